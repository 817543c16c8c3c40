"""mTLS to Temporal (``ODS_TEMPORAL_TLS_*``): through a TLS endpoint that asks for a client
certificate, signed like the server's by a private CA, in front of the dev server (which speaks
plain gRPC, as a cluster behind a TLS-terminating load balancer does)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from infra.settings import Settings
from infra.temporal import connect

SERVER_NAME = "temporal.ods.test"


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _issue(
    name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    usage: x509.ObjectIdentifier | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        assert usage is not None
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    return cert, key


@contextlib.asynccontextmanager
async def tls_endpoint(upstream: str, tmp: Path) -> AsyncIterator[tuple[str, dict[str, Path]]]:
    """A TLS endpoint asking for client certificates, passing bytes on to ``upstream``; its
    address, and the PEM files of the CA and of a client it trusts."""
    ca = _issue("ODS test CA", None)
    server = _issue(SERVER_NAME, ca, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client = _issue("ods-worker", ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    files = {
        "ca": tmp / "ca.pem",
        "server": tmp / "server.pem",
        "server_key": tmp / "server.key",
        "cert": tmp / "client.pem",
        "key": tmp / "client.key",
    }
    files["ca"].write_bytes(_pem(ca[0]))
    files["server"].write_bytes(_pem(server[0]))
    files["server_key"].write_bytes(_key_pem(server[1]))
    files["cert"].write_bytes(_pem(client[0]))
    files["key"].write_bytes(_key_pem(client[1]))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files["ca"]))
    context.load_cert_chain(files["server"], files["server_key"])
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, port = upstream.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    address = f"127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    try:
        yield address, files
    finally:
        listener.close()


async def test_a_client_with_its_certificate_reaches_temporal_and_one_without_does_not(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    upstream = dev_env.client.service_client.config.target_host
    async with tls_endpoint(upstream, tmp_path) as (address, files):
        settings = Settings(
            temporal_address=address,
            temporal_tls_cert=files["cert"],
            temporal_tls_key=files["key"],
            temporal_tls_ca=files["ca"],
            temporal_tls_server_name=SERVER_NAME,
        )
        client = await connect(settings)
        answer = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        assert answer.namespace_info.name == "default"

        # The same CA and name but no client certificate: the endpoint hangs up.
        anonymous = settings.model_copy(update={"temporal_tls_cert": None, "temporal_tls_key": None})
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(connect(anonymous), timeout=30)


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("not used")
    with pytest.raises(ValueError, match="ODS_TEMPORAL_TLS_CERT and ODS_TEMPORAL_TLS_KEY go together"):
        Settings(temporal_tls_cert=cert)
