"""The service database of one process: its engine and every store on it.

Built once where a process starts (the gateway's ``create_app``, ``worker.py``) and handed to whatever
reads or writes it: the gateway's routes, the activities, the reports. It opens the database on first
use (``store.db.open_database``: the schema migrated) and, when that fails (PostgreSQL still starting,
or down), raises ``ServiceDatabaseUnavailable`` and tries again on the next use, so a gateway
recovers by itself. Only an engine it opened itself is disposed by ``close``; one handed in
(``ServiceDatabase.on``) belongs to whoever made it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from store.alerts import AlertStore
from store.audit import AuditLog
from store.case_keys import CaseKeyStore
from store.db import open_database
from store.documents import CaseDocuments, DocumentSealer
from store.facts import CaseFactStore
from store.ratings import RatingStore
from store.sessions import OpsSessions
from store.subsidies import SubsidyLedger


class ServiceDatabaseUnavailable(Exception):
    """The service database cannot be reached (the gateway answers 503); the next use tries again."""


@dataclass(frozen=True)
class _Opened:
    """The stores on one engine: made together, so that none outlives a reopened database."""

    engine: AsyncEngine
    alerts: AlertStore
    subsidies: SubsidyLedger
    facts: CaseFactStore
    documents: CaseDocuments
    case_keys: CaseKeyStore
    audit: AuditLog
    sessions: OpsSessions
    ratings: RatingStore

    @classmethod
    def on(cls, engine: AsyncEngine, sealer: DocumentSealer | None = None) -> _Opened:
        return cls(
            engine,
            AlertStore(engine),
            SubsidyLedger(engine),
            CaseFactStore(engine),
            CaseDocuments(engine, sealer),
            CaseKeyStore(engine),
            AuditLog(engine),
            OpsSessions(engine),
            RatingStore(engine),
        )


class ServiceDatabase:
    """The service database at ``url`` (``Settings.resolved_database_url``), opened on first use.

    ``connect_timeout_s`` bounds each attempt to open it (the gateway's, so that a request is answered
    503 rather than held); None waits as long as the driver does (a worker's start). ``log`` is told
    when it opens or cannot be reached (the gateway's); without one nothing is said (a command-line
    tool prints its answer on stdout). Safe to share between tasks."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float | None = None,
        log: structlog.stdlib.BoundLogger | None = None,
    ) -> None:
        self._url = url
        self._timeout = connect_timeout_s
        self._log = log
        self._opened: _Opened | None = None
        self._owned = False
        self._sealer: DocumentSealer | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def on(cls, engine: AsyncEngine) -> ServiceDatabase:
        """The service database on an engine already open (its schema in place); ``close`` leaves
        the engine to whoever made it."""
        database = cls(engine.url.render_as_string(hide_password=False))
        database._opened = _Opened.on(engine)
        return database

    @property
    def where(self) -> str:
        """The database's URL without its password: what a log line may name."""
        return make_url(self._url).render_as_string(hide_password=True)

    @property
    def holds_engine(self) -> bool:
        """Whether an engine this object opened itself is open (one that ``close`` disposes of)."""
        return self._owned and self._opened is not None

    async def _open(self) -> _Opened:
        if self._opened is not None:
            return self._opened
        async with self._lock:
            if self._opened is None:
                try:
                    async with asyncio.timeout(self._timeout):
                        engine = await open_database(self._url)
                except (SQLAlchemyError, OSError, TimeoutError) as err:
                    if self._log is not None:
                        self._log.warning("service_database_unreachable", database=self.where, error=str(err))
                    raise ServiceDatabaseUnavailable(
                        f"the service database {self.where} is unreachable"
                    ) from err
                if self._log is not None:
                    self._log.info("service_database_opened", database=self.where)
                self._opened, self._owned = _Opened.on(engine, self._sealer), True
        return self._opened

    def seal_documents_with(self, sealer: DocumentSealer) -> None:
        """Store the cases' documents encrypted under their case keys (``infra/case_keys.py``, made
        on this database after it: hence a setter)."""
        self._sealer = sealer
        if self._opened is not None:
            self._opened.documents.sealer = sealer

    async def engine(self) -> AsyncEngine:
        """The engine, for reads that span the stores' tables (the daily report, the metrics)."""
        return (await self._open()).engine

    async def alerts(self) -> AlertStore:
        return (await self._open()).alerts

    async def subsidies(self) -> SubsidyLedger:
        return (await self._open()).subsidies

    async def facts(self) -> CaseFactStore:
        return (await self._open()).facts

    async def documents(self) -> CaseDocuments:
        return (await self._open()).documents

    async def case_keys(self) -> CaseKeyStore:
        return (await self._open()).case_keys

    async def audit(self) -> AuditLog:
        return (await self._open()).audit

    async def sessions(self) -> OpsSessions:
        return (await self._open()).sessions

    async def ratings(self) -> RatingStore:
        return (await self._open()).ratings

    async def close(self) -> None:
        """Dispose of the engine this object opened (one handed in is left alone); a later use opens
        the database again."""
        if not self._owned:
            return
        opened, self._opened = self._opened, None
        if opened is not None:
            await opened.engine.dispose()
