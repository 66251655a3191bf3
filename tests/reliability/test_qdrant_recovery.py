"""Qdrant comes back: health recovers by itself (issue 6), through the real gRPC server.

STAND-IN, NOT QDRANT. No Qdrant server binary can be had on this machine kind (project
notes), so "Qdrant comes back" is played by :class:`QdrantRestStandIn`: a small HTTP server
on the catalog's URL that answers the four REST calls the catalog makes to connect, to
check readiness and to read a video (server version, collection exists, collection info,
retrieve points) from qdrant-client's own local mode holding real collections. It proves
that our catalog and qdrant-client's real HTTP client reconnect by themselves when the URL
becomes reachable, and that the readiness poller follows; it says nothing about a real
Qdrant's behaviour (searches, writes, cluster fail-over are not served by it).

Sequence: server starts with nothing on the URL (real refused connections): NOT_SERVING,
UNAVAILABLE. The stand-in starts on that port: SERVING within a few polls and GetVideo
reaches the catalog again (NOT_FOUND for an unknown id). The stand-in stops: NOT_SERVING
and UNAVAILABLE again.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from qdrant_client import QdrantClient
from vidsearch_client import RetryPolicy, VideoSearchClient
from vidsearch_client.errors import VidsearchError

from vidsearch.catalog import QdrantClusterCatalog
from vidsearch.config import VidsearchConfig
from vidsearch.contract.models import HASH_TEXTURE_HEADS, VIDEO_EMBEDDER
from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend
from vidsearch.orchestrator.factory import build_orchestrator
from vidsearch.service.server import build_server

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.timeout(300)]

POLL_S = 0.2
_COLLECTION = re.compile(r"^/collections/([A-Za-z0-9_]+)(/exists|/index|/points)?$")


def _ok(result: Any) -> dict[str, Any]:
    return {"result": result, "status": "ok", "time": 0.0}


class QdrantRestStandIn:
    """A stand-in for a Qdrant REST endpoint (see the module docstring), backed by ``local``."""

    def __init__(self, port: int, local: QdrantClient) -> None:
        self.port, self.local = port, local
        self._server: ThreadingHTTPServer | None = None

    def answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if method == "GET" and path == "/":
            return 200, {"title": "qdrant stand-in", "version": "1.15.0"}
        match = _COLLECTION.match(path)
        if match is None:
            return 404, {"status": {"error": f"{method} {path} is not in the stand-in"}}
        name, tail = match.groups()
        if method == "GET" and tail == "/exists":
            return 200, _ok({"exists": self.local.collection_exists(name)})
        if method == "GET" and tail is None:
            return 200, _ok(self.local.get_collection(name).model_dump(mode="json"))
        if method == "PUT" and tail == "/index":  # payload indexes: local mode ignores them
            return 200, _ok({"operation_id": 0, "status": "completed"})
        if method == "POST" and tail == "/points":
            found = self.local.retrieve(name, body["ids"], with_payload=True)
            return 200, _ok([r.model_dump(mode="json") for r in found])
        return 404, {"status": {"error": f"{method} {path} is not in the stand-in"}}

    def start(self) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                code, payload = stand_in.answer(self.command, self.path.split("?")[0], body)
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _reply

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stand_in(repository: Path) -> Iterator[QdrantRestStandIn]:
    """Real collections (sizes from the served models) in qdrant-client's local mode."""
    backend = OnnxRuntimeBackend(repository)
    heads = backend.signature(HASH_TEXTURE_HEADS.name)
    texture_dim = next(o.shape[-1] for o in heads.outputs if o.name == "texture")
    embedding_dim = backend.signature(VIDEO_EMBEDDER.name).outputs[0].shape[-1]
    backend.close()
    local = QdrantClient(":memory:")
    QdrantClusterCatalog(
        local, prefix="vidsearch", texture_dim=texture_dim, embedding_dim=embedding_dim,
        replication_factor=1, shard_number=1, owns_client=False,
    )  # fmt: skip
    yield QdrantRestStandIn(_free_port(), local)
    local.close()


def _wait_health(client: VideoSearchClient, wanted: str, within_s: float) -> None:
    deadline, seen = time.monotonic() + within_s, None
    while time.monotonic() < deadline:
        seen = client.health(timeout=2)
        if seen == wanted:
            return
        time.sleep(POLL_S / 4)
    raise AssertionError(f"health still {seen} after {within_s} s (wanted {wanted})")


def _get_code(client: VideoSearchClient) -> grpc.StatusCode:
    with pytest.raises(VidsearchError) as err:
        client.get("no-such-video")
    return err.value.code


def test_health_recovers_when_qdrant_comes_back(
    repository: Path, stand_in: QdrantRestStandIn, tmp_path: Path
) -> None:
    config = VidsearchConfig()
    config.inference.model_repository = repository
    config.catalog.backend = "qdrant_cluster"
    config.catalog.url = f"http://127.0.0.1:{stand_in.port}"
    config.catalog.prefer_grpc = False  # the stand-in speaks REST only
    config.server.port = config.server.metrics_port = 0
    config.server.upload_dir = tmp_path / "uploads"
    orchestrator = build_orchestrator(config)
    running = build_server(config, orchestrator, with_metrics=False, ready_poll_s=POLL_S)
    try:
        with VideoSearchClient(running.target, retry=RetryPolicy(max_attempts=1)) as client:
            assert client.health() == "NOT_SERVING"  # nothing listens on the URL yet
            assert _get_code(client) == grpc.StatusCode.UNAVAILABLE

            stand_in.start()
            _wait_health(client, "SERVING", within_s=10)
            assert _get_code(client) == grpc.StatusCode.NOT_FOUND  # the catalog answers

            stand_in.stop()
            _wait_health(client, "NOT_SERVING", within_s=10)
            assert _get_code(client) == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop(grace=1.0)
        orchestrator.close()
