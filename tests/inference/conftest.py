"""Fixtures: a toy production repository with versions 1 and 2, its CPU twin, and the
real tritonserver serving the twin (once per session)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from vidsearch.exporters.pipeline import export_family
from vidsearch.inference.base import InferenceBackend


class Repos:
    """Paths plus a plain-onnxruntime reference to compare every backend against."""

    def __init__(self, production: Path, twin: Path) -> None:
        self.production = production
        self.twin = twin
        self._sessions: dict[tuple[str, int], ort.InferenceSession] = {}

    def reference(self, model: str, version: int, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        key = (model, version)
        if key not in self._sessions:
            path = self.production / model / str(version) / "model.onnx"
            self._sessions[key] = ort.InferenceSession(
                str(path), providers=["CPUExecutionProvider"]
            )
        session = self._sessions[key]
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, inputs), strict=True))


@pytest.fixture(scope="session")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Repos:
    root = tmp_path_factory.mktemp("inference-repos")
    production, twin = root / "model_repository", root / "model_repository_cpu"
    export_family("toy", None, production, cpu_twin=twin, seed=0)  # version 1
    export_family("toy", None, production, cpu_twin=twin, seed=10)  # version 2, other weights
    return Repos(production, twin)


@pytest.fixture(scope="session")
def triton_server(repos: Repos, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pytest.importorskip("pytriton", reason="nvidia-pytriton (the triton extra) is not installed")
    from vidsearch.inference.tritonserver import TritonServerProcess

    server = TritonServerProcess(repos.twin, work_dir=tmp_path_factory.mktemp("tritonserver"))
    started = time.perf_counter()
    with server:
        print(f"\ntritonserver ready in {time.perf_counter() - started:.2f} s")
        yield server


@pytest.fixture(params=["onnxruntime", pytest.param("triton", marks=pytest.mark.triton)])
def backend(request: pytest.FixtureRequest, repos: Repos) -> Iterator[InferenceBackend]:
    if request.param == "onnxruntime":
        from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend

        instance: InferenceBackend = OnnxRuntimeBackend(repos.production)
    else:
        from vidsearch.inference.triton_backend import TritonBackend

        server = request.getfixturevalue("triton_server")
        instance = TritonBackend(server.grpc_url, timeout=30.0)
    yield instance
    instance.close()
