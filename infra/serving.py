"""Serving an ASGI app with uvicorn: in the foreground of a ``python -m`` process, or as a task of
an event loop that is already running (tests, the embedded stack).

Neither touches the logging setup: uvicorn's loggers go through ``infra.logging``'s handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal

import uvicorn

from infra.logging import get_logger
from infra.settings import Settings

log = get_logger(__name__)

ASGIApp = Callable[..., Any]
Lifespan = Literal["auto", "on", "off"]


class _StoppingServer(uvicorn.Server):
    """Sets the app's ``state.stopping`` event first, so open streams (SSE) end at once
    instead of holding the graceful timeout."""

    async def shutdown(self, sockets: Any = None) -> None:
        # Open streams (SSE) end at once instead of holding the graceful timeout.
        stopping = getattr(getattr(self.config.app, "state", None), "stopping", None)
        if isinstance(stopping, asyncio.Event):
            stopping.set()
        await super().shutdown(sockets)


class _EmbeddedServer(_StoppingServer):
    """A uvicorn server that leaves signals to whoever owns the event loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _ForegroundServer(_StoppingServer):
    """A uvicorn server that stops gracefully on SIGTERM or Ctrl-C and then simply returns.

    (uvicorn's own handling re-raises the signal after shutting down, so a clean SIGTERM would
    still end the process as "killed"; supervisors and ``make up`` want exit status 0.)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on Unix
                continue
            installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for open connections
        else:
            log.info("shutting_down", signal=sig.name)
            self.should_exit = True


def _config(
    app: ASGIApp, host: str, port: int, lifespan: Lifespan, graceful_s: int, **options: Any
) -> uvicorn.Config:
    # log_config=None: uvicorn's loggers keep infra.logging's handler.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan=lifespan,
        log_config=None,
        timeout_graceful_shutdown=graceful_s,
        **options,
    )


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve_until_stopped(server: uvicorn.Server, where: str) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits the process when it cannot bind or start the app
        raise RuntimeError(f"the server at {where} failed to start (see the log above)") from exc


@contextlib.asynccontextmanager
async def serve_in_background(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    lifespan: Lifespan = "on",
    startup_timeout_s: float = 15.0,
    graceful_timeout_s: int = 5,
) -> AsyncIterator[str]:
    """Run ``app`` in the current event loop; yield its base URL once it is listening.

    ``port=0`` picks a free port; the URL names the actual one. Leaving the block stops the
    server: it stops accepting, lets open requests finish (up to ``graceful_timeout_s``) and
    runs the app's lifespan shutdown.
    """
    server = _EmbeddedServer(_config(app, host, port, lifespan, graceful_timeout_s, access_log=False))
    where = f"{host}:{port}"
    task = asyncio.create_task(_serve_until_stopped(server, where), name=f"uvicorn {where}")
    try:
        async with asyncio.timeout(startup_timeout_s):
            while not server.started:
                if task.done():
                    await task  # raises why it stopped
                    raise RuntimeError(f"the server at {where} stopped before it was listening")
                await asyncio.sleep(0.005)
        actual_port = server.servers[0].sockets[0].getsockname()[1]
        yield _base_url(host, actual_port)
    finally:
        server.should_exit = True
        try:
            await asyncio.shield(task)  # a server that crashed raises its error here
        except asyncio.CancelledError:
            task.cancel()
            raise


def run_foreground(app: ASGIApp, addr: str, *, lifespan: Lifespan = "on") -> None:
    """Serve ``app`` at ``addr`` (``host:port``) until SIGTERM or Ctrl-C, then stop gracefully."""
    host, port = Settings.split_addr(addr)
    asyncio.run(_ForegroundServer(_config(app, host, port, lifespan, 10)).serve())
