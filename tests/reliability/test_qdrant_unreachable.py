"""Qdrant unreachable (issue 6, "faults of dependencies"), through the real gRPC server.

The orchestrator runs the starter models on embedded ONNX Runtime with
``catalog.backend = qdrant_cluster`` pointing at a loopback port where nothing listens:
every connection is really refused (no stand-in). The server must start anyway, report
NOT_SERVING, answer searches and uploads with UNAVAILABLE naming the Qdrant URL and what
to check, and keep serving.

Recovery (the URL answering again) is ``test_qdrant_recovery.py``, with a labelled
stand-in; a real Qdrant server cannot be run on this machine kind (project notes).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from vidsearch_client import RetryPolicy, VideoSearchClient
from vidsearch_client.errors import VidsearchError

from vidsearch.config import VidsearchConfig
from vidsearch.media.synthetic import generate_video_file
from vidsearch.orchestrator.factory import build_orchestrator
from vidsearch.service.server import build_server

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.timeout(300)]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Down:
    target: str
    qdrant_url: str
    video: Path


@pytest.fixture(params=[True, False], ids=["grpc", "rest"])
def down(request: pytest.FixtureRequest, repository: Path, tmp_path: Path) -> Iterator[Down]:
    url = f"http://127.0.0.1:{_closed_port()}"
    config = VidsearchConfig()
    config.inference.model_repository = repository
    config.catalog.backend = "qdrant_cluster"
    config.catalog.url = url
    config.catalog.prefer_grpc = request.param
    config.server.port = config.server.metrics_port = 0
    config.server.upload_dir = tmp_path / "uploads"
    orchestrator = build_orchestrator(config)  # must not fail: Qdrant may come later
    running = build_server(config, orchestrator, with_metrics=False, ready_poll_s=0.2)
    video = generate_video_file(tmp_path / "q.mp4", 3, 4.0, fps=8.0, width=128, height=96)
    try:
        yield Down(running.target, url, video)
    finally:
        running.stop(grace=1.0)
        orchestrator.close()


def _code_and_message(call: object) -> tuple[grpc.StatusCode, str]:
    assert callable(call)
    with pytest.raises(VidsearchError) as err:
        call()
    return err.value.code, err.value.message


def test_qdrant_down_is_unavailable_with_a_clear_message(down: Down) -> None:
    host_port = down.qdrant_url.removeprefix("http://")
    with VideoSearchClient(down.target, retry=RetryPolicy(max_attempts=1), timeout=30) as c:
        assert c.health() == "NOT_SERVING"
        started = time.monotonic()
        code, message = _code_and_message(lambda: c.search_video(down.video, top_k=3))
        assert time.monotonic() - started < 20  # refused fast, not hung
        assert code == grpc.StatusCode.UNAVAILABLE
        assert host_port in message and "check that the Qdrant service is up" in message
        code, message = _code_and_message(lambda: c.index_file(down.video, video_id="v"))
        assert code == grpc.StatusCode.UNAVAILABLE and host_port in message
        code, _ = _code_and_message(lambda: c.get("v"))
        assert code == grpc.StatusCode.UNAVAILABLE
        time.sleep(0.5)  # a few readiness polls later: still down, still answering
        assert c.health() == "NOT_SERVING"
        code, _ = _code_and_message(lambda: c.search_video(down.video, top_k=3))
        assert code == grpc.StatusCode.UNAVAILABLE
