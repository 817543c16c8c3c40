"""The one place that knows how we talk to Temporal: connection, data converter, search attributes."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import Client, TLSConfig
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime

from infra.settings import Settings, get_settings
from infra.tracing import temporal_interceptors

if TYPE_CHECKING:
    from infra.codec import CaseKeySource

# Kept current by the workflow (workflows/case_record.py); never personal data.
SA_SETUP_STAGE = SearchAttributeKey.for_keyword("SetupStage")
SA_SLA_STATUS = SearchAttributeKey.for_keyword("SlaStatus")
SA_BREACHED_STAGES = SearchAttributeKey.for_keyword_list("BreachedStages")
SA_DISTRICT_CODE = SearchAttributeKey.for_keyword("DistrictCode")
SA_ENTERPRISE_NAME = SearchAttributeKey.for_keyword("EnterpriseName")
SA_USCC = SearchAttributeKey.for_keyword("Uscc")
SA_SUBSIDY_GRANTED = SearchAttributeKey.for_bool("SubsidyGranted")
SA_NEEDS_ATTENTION = SearchAttributeKey.for_bool("NeedsAttention")
# A bad rating's follow-up (workflows/rating_follow_up.py), with DistrictCode and SlaStatus above.
SA_RATING_LEVEL = SearchAttributeKey.for_keyword("RatingLevel")
SA_RATING_STATE = SearchAttributeKey.for_keyword("RatingState")

SEARCH_ATTRIBUTES: list[SearchAttributeKey] = [  # type: ignore[type-arg]
    SA_SETUP_STAGE,
    SA_SLA_STATUS,
    SA_BREACHED_STAGES,
    SA_DISTRICT_CODE,
    SA_ENTERPRISE_NAME,
    SA_USCC,
    SA_SUBSIDY_GRANTED,
    SA_NEEDS_ATTENTION,
    SA_RATING_LEVEL,
    SA_RATING_STATE,
]

_CLI_TYPE_NAMES: dict[int, str] = {
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
    IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
}


def search_attribute_cli_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPE_NAMES[int(key.indexed_value_type)]}"]
    return flags


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the custom search attributes that the server lacks (the operator API, so an
    existing ``temporal.db`` gains the ones added since it was made: ``--search-attribute`` alone
    does not). Returns the names added; a no-op when all are there. An unregistered attribute
    would make every workflow task that sets it fail, and retry, for ever."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in SEARCH_ATTRIBUTES
        if key.name not in listed.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


async def search_attribute_problems(
    client: Client,
    namespace: str,
    expected: list[SearchAttributeKey] | None = None,  # type: ignore[type-arg]
) -> list[str]:
    """What is wrong with the namespace's custom search attributes: each of ``expected`` (ours by
    default) missing or of another type, in words; empty when all are right. Reads only, so it
    works with a key that may not change the namespace (Temporal Cloud)."""
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    problems: list[str] = []
    for key in expected if expected is not None else SEARCH_ATTRIBUTES:
        want = _CLI_TYPE_NAMES.get(int(key.indexed_value_type), str(key.indexed_value_type))
        have = listed.custom_attributes.get(key.name)
        if have is None:
            problems.append(f"{key.name} ({want}) is not registered")
        elif int(have) != int(key.indexed_value_type):
            problems.append(f"{key.name} is a {_CLI_TYPE_NAMES.get(int(have), str(have))}, not a {want}")
    return problems


def data_converter(settings: Settings | None = None, case_keys: CaseKeySource | None = None) -> DataConverter:
    """Client, worker and replayer all use this: pydantic payloads, encrypted with the keys of
    ``ODS_CODEC_KEYS`` (``infra.codec``; ``CodecKeyError`` when they are unusable). Plaintext
    payloads (histories recorded before the codec) still decode. With ``case_keys`` (the process's
    ``infra.case_keys.CaseKeyring``) each case's payloads are encrypted under the case's own key;
    without (the replayer, tests of one workflow) under the master key, as before. A failure's
    message and stack trace are sealed too (the history says "Encoded failure"): they may carry a
    partner's words about a person; failures recorded before, in clear, still read."""
    # Imported here, never at the top: workflow modules import this module, and ``cryptography``
    # breaks the workflow sandbox ("Failed validating workflow").
    from infra.codec import EncryptionCodec

    s = settings or get_settings()
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec.from_text(s.codec_keys, case_keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def tls_config(s: Settings) -> bool | TLSConfig:
    """TLS to Temporal: the certificates of ``ODS_TEMPORAL_TLS_*`` (mTLS, a private CA, a server
    name), else plain TLS when ``ODS_TEMPORAL_TLS`` or an API key asks for it, else none."""
    files = (s.temporal_tls_cert, s.temporal_tls_key, s.temporal_tls_ca)
    if any(files) or s.temporal_tls_server_name:
        return TLSConfig(
            client_cert=s.temporal_tls_cert.read_bytes() if s.temporal_tls_cert else None,
            client_private_key=s.temporal_tls_key.read_bytes() if s.temporal_tls_key else None,
            server_root_ca_cert=s.temporal_tls_ca.read_bytes() if s.temporal_tls_ca else None,
            domain=s.temporal_tls_server_name,
        )
    return bool(s.temporal_tls or s.temporal_api_key)


async def connect(
    settings: Settings | None = None, runtime: Runtime | None = None, case_keys: CaseKeySource | None = None
) -> Client:
    """A client on ``settings``; on ``runtime`` (e.g. one serving SDK metrics, worker.py) if given;
    encrypting each case's payloads under its own key with ``case_keys`` (``data_converter``).
    It traces (``infra.tracing``) when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, and so do the workers
    made from it: the SDK hands a client's worker interceptors on to them."""
    s = settings or get_settings()
    return await Client.connect(
        s.temporal_address,
        namespace=s.temporal_namespace,
        data_converter=data_converter(s, case_keys),
        tls=tls_config(s),
        api_key=s.temporal_api_key,
        runtime=runtime,
        interceptors=temporal_interceptors(),
    )
