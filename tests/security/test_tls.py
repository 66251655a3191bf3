"""TLS and mutual TLS on the gRPC listener, through the SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import vidsearch_client as vc
from vidsearch_client import RetryPolicy, VideoSearchClient

from vidsearch.config import ServerConfig
from vidsearch.service.tls import server_credentials

TOKEN = "adm1n-t0ken-f0r-tests-only"


def _client(target: str, **kwargs: Any) -> VideoSearchClient:
    return VideoSearchClient(target, timeout=5, retry=RetryPolicy(max_attempts=1), **kwargs)


@pytest.fixture
def tls_files(pki: Any) -> dict[str, Path]:
    return {
        "tls_cert_file": pki.write("server.pem", pki.server.cert_pem),
        "tls_key_file": pki.write("server.key", pki.server.key_pem),
    }


def test_tls_happy_path_and_plaintext_refused(start_server: Any, pki: Any, tls_files: Any) -> None:
    target = start_server(**tls_files).target
    with _client(target, secure=True, root_certificates=pki.ca.cert_pem) as client:
        assert client.stats().inference_backend == "tiny"
        assert client.health() == "SERVING"
    with _client(target) as plaintext, pytest.raises(vc.Unavailable):
        plaintext.stats()
    wrong_ca = _client(target, secure=True, root_certificates=pki.rogue_ca.cert_pem)
    with wrong_ca, pytest.raises(vc.Unavailable):  # the server's certificate is not trusted
        wrong_ca.stats()


def test_tls_with_token(start_server: Any, pki: Any, tls_files: Any, tokens_file: Path) -> None:
    target = start_server(auth_tokens_file=tokens_file, **tls_files).target
    with _client(target, secure=True, root_certificates=pki.ca.cert_pem, token=TOKEN) as client:
        client.stats()
    anonymous = _client(target, secure=True, root_certificates=pki.ca.cert_pem)
    with anonymous, pytest.raises(vc.Unauthenticated):
        anonymous.stats()


def test_mutual_tls(start_server: Any, pki: Any, tls_files: Any) -> None:
    ca_file = pki.write("clients-ca.pem", pki.ca.cert_pem)
    target = start_server(tls_client_ca_file=ca_file, **tls_files).target
    trusted = {"secure": True, "root_certificates": pki.ca.cert_pem}
    with _client(
        target, private_key=pki.client.key_pem, certificate_chain=pki.client.cert_pem, **trusted
    ) as client:
        assert client.stats().videos == 0
    with _client(target, **trusted) as no_cert, pytest.raises(vc.Unavailable):
        no_cert.stats()
    with (
        _client(
            target,
            private_key=pki.rogue_client.key_pem,
            certificate_chain=pki.rogue_client.cert_pem,
            **trusted,
        ) as rogue,
        pytest.raises(vc.Unavailable),
    ):
        rogue.stats()


def test_tls_config_mistakes_fail_at_start(pki: Any, tmp_path: Path) -> None:
    cert = pki.write("only-cert.pem", pki.server.cert_pem)
    with pytest.raises(ValueError, match="both tls_cert_file and tls_key_file"):
        server_credentials(ServerConfig(tls_cert_file=cert))
    with pytest.raises(ValueError, match="needs tls_cert_file"):
        server_credentials(ServerConfig(tls_client_ca_file=cert))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValueError, match="not PEM-encoded"):
        server_credentials(ServerConfig(tls_cert_file=junk, tls_key_file=junk))
    with pytest.raises(ValueError, match="cannot read"):
        server_credentials(ServerConfig(tls_cert_file=tmp_path / "no", tls_key_file=cert))
    assert server_credentials(ServerConfig()) is None


def test_plaintext_health_port_beside_a_tls_api(
    start_server: Any, pki: Any, tls_files: Any
) -> None:
    """kubelet's gRPC probe speaks plaintext: the health-only port answers it, nothing else."""
    running = start_server(**tls_files, health_port=0)
    assert running.health_port and running.health_port != running.port
    probe_target = f"127.0.0.1:{running.health_port}"
    with _client(probe_target) as probe:
        assert probe.health() == "SERVING"
        with pytest.raises(vc.Unimplemented):  # only grpc.health.v1 lives there
            probe.stats()
    with _client(running.target) as plaintext, pytest.raises(vc.Unavailable):
        plaintext.stats()  # the API port itself still refuses plaintext
