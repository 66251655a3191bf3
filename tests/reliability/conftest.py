"""Fixtures shared by the dependency-fault tests: the starter release exported to ONNX
(once per session), a few small reference videos, and a real tritonserver on its CPU twin
with the orchestrator config pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vidsearch.config import VidsearchConfig
from vidsearch.exporters.cpu_twin import sync_cpu_twin
from vidsearch.inference.tritonserver import TritonServerProcess, free_port
from vidsearch.media.synthetic import generate_video_file

STARTER = Path(__file__).resolve().parents[2] / "models" / "starter"
N_VIDEOS = 3


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed starter checkpoints as a versioned ONNX model repository."""
    from vidsearch.evaluation.systems import export_release

    checkpoints = [STARTER / "video_hash.pt", STARTER / "barlow.pt"]
    missing = [str(p) for p in checkpoints if not p.is_file()]
    assert not missing, f"starter checkpoints missing (run `make models`): {missing}"
    repo = tmp_path_factory.mktemp("fault_repository")
    export_release(checkpoints, repo)
    return repo


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three distinct 8 s references (v0, v1, v2)."""
    root = tmp_path_factory.mktemp("fault_videos")
    return [
        generate_video_file(root / f"v{i}.mp4", 100 + i, 8.0, fps=8.0, width=128, height=96)
        for i in range(N_VIDEOS)
    ]


@pytest.fixture
def twin_triton(repository: Path, tmp_path: Path) -> Iterator[TritonServerProcess]:
    """tritonserver on the CPU twin, on pinned ports so a test can stop and restart it at
    the same address."""
    twin = tmp_path / "cpu_twin"
    sync_cpu_twin(repository, twin)
    triton = TritonServerProcess(
        twin,
        work_dir=tmp_path / "triton",
        grpc_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
        exit_timeout_s=2,
    )
    triton.start()
    try:
        yield triton
    finally:
        triton.stop()


@pytest.fixture
def triton_config(
    repository: Path, twin_triton: TritonServerProcess, tmp_path: Path
) -> VidsearchConfig:
    """An orchestrator on ``twin_triton`` with its own catalog, on free loopback ports."""
    config = VidsearchConfig()
    config.inference.backend = "triton"
    config.inference.model_repository = repository
    config.inference.triton_url = twin_triton.grpc_url
    config.inference.timeout_s = 10.0
    config.catalog.backend = "qdrant_edge"
    config.catalog.path = tmp_path / "catalog"
    config.server.port = 0
    config.server.metrics_port = 0
    config.server.upload_dir = tmp_path / "uploads"
    return config
