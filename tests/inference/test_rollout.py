"""A model-version rollout on the REAL tritonserver with ``vidsearch models``.

Its own server (explicit mode, nothing loaded at start) over the session's toy CPU twin
with versions 1 and 2: serve v1, load v2 next to it, route, unload v1.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vidsearch.config import load_config
from vidsearch.contract.models import FRAME_ENCODER, HASH_TEXTURE_HEADS, VIDEO_EMBEDDER
from vidsearch.inference.base import ModelNotFoundError
from vidsearch.inference.factory import build_backend
from vidsearch.inference.triton_backend import TritonBackend
from vidsearch.models_cli import ENV_VERSION, main, served_versions

pytestmark = pytest.mark.triton
MODELS = [FRAME_ENCODER.name, HASH_TEXTURE_HEADS.name]  # video_embedder: not needed here


@pytest.fixture(scope="module")
def server(repos: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pytest.importorskip("pytriton", reason="nvidia-pytriton (the triton extra) is not installed")
    from vidsearch.inference.tritonserver import TritonServerProcess

    work = tmp_path_factory.mktemp("rollout-triton")
    with TritonServerProcess(repos.twin, work_dir=work, models=[]) as process:
        yield process


def _cli(server: Any, *argv: str) -> int:
    return main(["models", *argv, "--url", server.grpc_url])


def _frames(batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8)


def _check(backend: Any, repos: Any, version: int, *, explicit: bool = True) -> None:
    """frame_encoder and the heads answer exactly like ``version``'s ONNX files."""
    frames = _frames(3, version)
    chosen = version if explicit else None
    feature = backend.infer(FRAME_ENCODER.name, {"frames": frames}, version=chosen)["feature"]
    want = repos.reference(FRAME_ENCODER.name, version, frames=frames)["feature"]
    np.testing.assert_allclose(feature, want, rtol=0, atol=1e-5)
    heads = backend.infer(HASH_TEXTURE_HEADS.name, {"feature": want}, version=chosen)
    ref = repos.reference(HASH_TEXTURE_HEADS.name, version, feature=want)
    np.testing.assert_array_equal(heads["hash_bits"], ref["hash_bits"])


@contextmanager
def _traffic(url: str, version: int) -> Iterator[list[str]]:
    """Requests for ``version`` in a loop while the body runs; collects every failure."""
    backend, stop, failures, done = TritonBackend(url), threading.Event(), [], [0]

    def loop() -> None:
        while not stop.is_set():
            try:
                backend.infer(FRAME_ENCODER.name, {"frames": _frames(1, 0)}, version=version)
                done[0] += 1
            except Exception as exc:  # every kind of failure counts
                failures.append(repr(exc))

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield failures
    finally:
        time.sleep(0.2)
        stop.set()
        thread.join()
        backend.close()
    assert done[0] > 0


def test_rollout_from_v1_to_v2(
    server: Any, repos: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = TritonBackend(server.grpc_url, timeout=30.0)
    client = backend._client
    try:
        # Not loaded and no local repository copy: loaded from the server's config.
        assert _cli(server, "load", VIDEO_EMBEDDER.name, "--version", "1") == 0
        assert served_versions(client, VIDEO_EMBEDDER.name) == [1]
        assert _cli(server, "unload", VIDEO_EMBEDDER.name) == 0
        assert served_versions(client, VIDEO_EMBEDDER.name) == []
        # v1 only, config from the local repository copy.
        assert _cli(server, "load", *MODELS, "--version", "1", "--repository", str(repos.twin)) == 0
        assert {m: served_versions(client, m) for m in MODELS} == {m: [1] for m in MODELS}
        _check(backend, repos, 1)
        with pytest.raises(ModelNotFoundError):
            backend.infer(FRAME_ENCODER.name, {"frames": _frames(1, 0)}, version=2)
        assert _cli(server, "route", "--version", "2") == 1  # not served yet
        capsys.readouterr()

        # v2 next to v1: both answer, each with its own weights; v1 never stops.
        with _traffic(server.grpc_url, 1) as failures:
            assert _cli(server, "load", *MODELS, "--version", "2") == 0
        assert failures == []
        assert {m: served_versions(client, m) for m in MODELS} == {m: [1, 2] for m in MODELS}
        _check(backend, repos, 1)
        _check(backend, repos, 2)
        for pinned in (1, 2):  # what the orchestrator's model_version does
            routed = TritonBackend(server.grpc_url, default_version=pinned)
            try:
                _check(routed, repos, pinned, explicit=False)
            finally:
                routed.close()

        # Route: config snippet + env line, written into a config file the loader reads.
        config_file = tmp_path / "vidsearch.yaml"
        config_file.write_text(f"inference:\n  backend: triton\n  triton_url: {server.grpc_url}\n")
        assert _cli(server, "route", "--version", "2", "--write", str(config_file)) == 0
        printed = capsys.readouterr().out
        assert f"{ENV_VERSION}=2" in printed and "model_version: 2" in printed
        config = load_config(config_file)
        assert config.inference.model_version == 2 and config.inference.triton_url
        routed_backend = build_backend(config.inference)
        try:
            _check(routed_backend, repos, 2, explicit=False)
        finally:
            routed_backend.close()

        # Unload v1: v1 is gone (NOT_FOUND), v2 keeps serving throughout.
        with _traffic(server.grpc_url, 2) as failures:
            assert _cli(server, "unload", *MODELS, "--version", "1") == 0
        assert failures == []
        assert {m: served_versions(client, m) for m in MODELS} == {m: [2] for m in MODELS}
        with pytest.raises(ModelNotFoundError):
            backend.infer(FRAME_ENCODER.name, {"frames": _frames(1, 0)}, version=1)
        pinned_v1 = TritonBackend(server.grpc_url, default_version=1)
        try:
            with pytest.raises(ModelNotFoundError):
                pinned_v1.infer(HASH_TEXTURE_HEADS.name, {"feature": np.zeros((1, 32), np.float32)})
        finally:
            pinned_v1.close()
        _check(backend, repos, 2)
        _check(backend, repos, 2, explicit=False)
        assert backend.model_versions(FRAME_ENCODER.name) == [2]

        capsys.readouterr()
        assert _cli(server, "list", "--json") == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert {"model": FRAME_ENCODER.name, "version": 2, "state": "READY", "reason": ""} in rows
        assert not any(r["version"] == 1 and r["state"] == "READY" for r in rows)
        assert _cli(server, "unload", FRAME_ENCODER.name, "--version", "1") == 1
        assert "not served" in capsys.readouterr().err
    finally:
        backend.close()


def test_unknown_model_is_reported(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(server, "load", "no_such_model", "--version", "1") == 1
    assert "no_such_model" in capsys.readouterr().err


def test_catalog_of_another_version_is_refused(server: Any, repos: Any, tmp_path: Path) -> None:
    """Orchestrator: codes indexed with v1 are never compared with v2 query codes."""
    from vidsearch.catalog.base import IncompatibleModelError, VideoRecord
    from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog
    from vidsearch.config import CatalogConfig, InferenceConfig, VidsearchConfig
    from vidsearch.orchestrator import orchestrator
    from vidsearch.orchestrator.api import SearchOptions

    for model in MODELS:  # v2 only, whatever the previous test left
        _cli(server, "load", model, "--version", "2")
        if 1 in served_versions(TritonBackend(server.grpc_url)._client, model):
            _cli(server, "unload", model, "--version", "1")
    catalog = QdrantEdgeCatalog(tmp_path / "catalog", texture_dim=16, embedding_dim=24)
    bits = np.where(np.arange(128) % 2 == 0, 1.0, -1.0).astype(np.float32)
    texture = np.full(16, 0.25, np.float32)
    catalog.upsert_video(VideoRecord("old", bits, texture, 4.0, model_version=1))
    config = VidsearchConfig(
        inference=InferenceConfig(backend="triton", triton_url=server.grpc_url),
        catalog=CatalogConfig(path=tmp_path / "catalog"),
    )
    backend = TritonBackend(server.grpc_url)
    service = orchestrator.Orchestrator(
        config, backend, catalog, backend_name="triton", catalog_name="qdrant_edge"
    )
    try:
        query = tmp_path / "query.mp4"  # never decoded: the version check comes first
        with pytest.raises(IncompatibleModelError, match="re-index"):
            service.search_by_video(query, SearchOptions())  # latest = 2
        with pytest.raises(ModelNotFoundError):
            service.search_by_video(query, SearchOptions(model_version=1))  # unloaded
    finally:
        service.close()
