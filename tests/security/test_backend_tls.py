"""TLS and the API key between the orchestrator and its backends (Qdrant, Triton).

The orchestrator is a client here: ``catalog.tls_ca_file`` / ``catalog.api_key`` and
``inference.triton_tls_*`` must make it verify the backend's certificate against the
given CA (and refuse one from another CA) and send the key only over TLS. Servers are
real TLS endpoints on loopback with certificates of the session's throwaway PKI
(conftest): a Qdrant REST stand-in (``http.server`` + ``ssl``), a Qdrant gRPC stand-in
(qdrant-client's own service definition), and the real tritonserver with
``--grpc-use-ssl``.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from pydantic import ValidationError
from qdrant_client import QdrantClient
from qdrant_client import grpc as qgrpc
from qdrant_client.grpc import collections_service_pb2_grpc

from vidsearch.catalog import open_catalog
from vidsearch.catalog.factory import qdrant_tls_arguments
from vidsearch.config import CatalogConfig, InferenceConfig

API_KEY = "qdrant-test-key-not-a-secret"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # qdrant-client's notes


class _QdrantRest(BaseHTTPRequestHandler):
    """Answers what a readiness check asks (collection exists?) and the version probe."""

    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        self.seen.append({"path": self.path, "api-key": self.headers.get("api-key", "")})
        if self.path.endswith("/exists"):
            body: dict[str, Any] = {"result": {"exists": False}, "status": "ok", "time": 0.0}
        elif self.path == "/":
            body = {"title": "qdrant - vector search engine", "version": "1.17.0"}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def qdrant_rest(pki: Any) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """An HTTPS server with the PKI's localhost certificate; yields (URL, requests seen)."""
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_QdrantRest,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(
        pki.write("qdrant.crt", pki.server.cert_pem), pki.write("qdrant.key", pki.server.key_pem)
    )
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def _catalog_config(url: str, ca: Path | None, **more: Any) -> CatalogConfig:
    return CatalogConfig(
        backend="qdrant_cluster", url=url, prefer_grpc=False, collection_prefix="t",
        api_key=API_KEY, tls_ca_file=ca, timeout_s=5, **more,
    )  # fmt: skip


def test_catalog_verifies_qdrant_with_the_ca_and_sends_the_key(
    pki: Any, qdrant_rest: tuple[str, list[dict[str, str]]]
) -> None:
    url, seen = qdrant_rest
    config = _catalog_config(url, pki.write("ca.crt", pki.ca.cert_pem))
    catalog = open_catalog(config, texture_dim=None, embedding_dim=None)
    try:
        assert catalog.is_ready()
    finally:
        catalog.close()
    checks = [s for s in seen if s["path"].endswith("/exists")]
    assert checks and all(s["api-key"] == API_KEY for s in checks)


def test_catalog_refuses_a_qdrant_certificate_from_another_ca(
    pki: Any, qdrant_rest: tuple[str, list[dict[str, str]]]
) -> None:
    url, seen = qdrant_rest
    config = _catalog_config(url, pki.write("rogue-ca.crt", pki.rogue_ca.cert_pem))
    catalog = open_catalog(config, texture_dim=None, embedding_dim=None)
    try:
        assert not catalog.is_ready()
    finally:
        catalog.close()
    assert not [s for s in seen if s["path"].endswith("/exists")], "no request got through"


def test_catalog_tls_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match=r"needs an https:// catalog\.url"):
        CatalogConfig(url="http://qdrant:6333", tls_ca_file=Path("/ca.crt"))
    with pytest.raises(ValueError, match="tls_ca_file"):
        qdrant_tls_arguments(CatalogConfig(url="https://q:6333", tls_ca_file=Path("/none.crt")))
    assert qdrant_tls_arguments(CatalogConfig()) == {}


class _Collections(collections_service_pb2_grpc.CollectionsServicer):
    def __init__(self) -> None:
        self.keys: list[str] = []

    def CollectionExists(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.keys.append(dict(context.invocation_metadata()).get("api-key", ""))
        return qgrpc.CollectionExistsResponse(result=qgrpc.CollectionExists(exists=False))


def test_grpc_catalog_client_verifies_qdrant_with_the_ca(pki: Any) -> None:
    """prefer_grpc: the channel qdrant-client opens gets the CA from qdrant_tls_arguments."""
    servicer = _Collections()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    collections_service_pb2_grpc.add_CollectionsServicer_to_server(servicer, server)
    credentials = grpc.ssl_server_credentials([(pki.server.key_pem, pki.server.cert_pem)])
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        for ca, works in ((pki.ca, True), (pki.rogue_ca, False)):
            config = _catalog_config("https://127.0.0.1:6333", pki.write("g.crt", ca.cert_pem))
            client = QdrantClient(
                url=config.url, grpc_port=port, prefer_grpc=True, api_key=API_KEY, timeout=3,
                check_compatibility=False, **qdrant_tls_arguments(config),
            )  # fmt: skip
            try:
                if works:
                    assert client.collection_exists("t_videos") is False
                else:
                    with pytest.raises(grpc.RpcError):
                        client.collection_exists("t_videos")
            finally:
                client.close()
        assert servicer.keys == [API_KEY]
    finally:
        server.stop(None)


# -- Triton -----------------------------------------------------------------------------
def test_triton_tls_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="go together"):
        InferenceConfig(triton_tls_ca_file=Path("/ca"), triton_tls_cert_file=Path("/c"))
    with pytest.raises(ValidationError, match=r"needs inference\.triton_tls_ca_file"):
        InferenceConfig(triton_tls_cert_file=Path("/c"), triton_tls_key_file=Path("/k"))


@pytest.mark.triton
def test_triton_backend_speaks_tls_to_a_real_tritonserver(
    pki: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytest.importorskip("pytriton", reason="needs nvidia-pytriton (the triton extra)")
    from vidsearch.inference.factory import build_backend
    from vidsearch.inference.triton_backend import TritonBackend
    from vidsearch.inference.tritonserver import TritonServerProcess

    root = tmp_path_factory.mktemp("triton-tls")
    (root / "repository").mkdir()
    tls = [
        "--grpc-use-ssl=true",
        f"--grpc-server-cert={pki.write('triton.crt', pki.server.cert_pem)}",
        f"--grpc-server-key={pki.write('triton.key', pki.server.key_pem)}",
        f"--grpc-root-cert={pki.write('ca.crt', pki.ca.cert_pem)}",
    ]
    ca = pki.write("ca.crt", pki.ca.cert_pem)
    with TritonServerProcess(
        root / "repository", work_dir=root / "work", models=[], extra_args=tls
    ) as server:
        url = f"localhost:{server.grpc_port}"  # the certificate names localhost
        config = InferenceConfig(backend="triton", triton_url=url, triton_tls_ca_file=ca)
        verified = build_backend(config)
        assert isinstance(verified, TritonBackend) and verified.tls
        assert verified.is_ready()
        verified.close()
        rogue = TritonBackend(url, timeout=3, tls_ca_file=pki.write("r.crt", pki.rogue_ca.cert_pem))
        plaintext = TritonBackend(url, timeout=3)
        assert not rogue.is_ready() and not plaintext.is_ready()
        rogue.close()
        plaintext.close()
