"""TorchServe archives served by the REAL TorchServe 0.12 answer like ONNX Runtime.

One TorchServe per session (the JVM and one Python worker per model version are the
expensive part): toy family at version 1 and the video_hash family from a tiny real
checkpoint at version 2, each checked against OnnxRuntimeBackend on its own export.
"""

from __future__ import annotations

import argparse
import json
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from vidsearch.contract.models import FRAME_ENCODER, HASH_TEXTURE_HEADS, VIDEO_EMBEDDER
from vidsearch.exporters.pipeline import export_family
from vidsearch.exporters.torchserve import ArchiveError, archive_family, list_archives, register
from vidsearch.inference.base import InferenceError, ModelNotFoundError
from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend
from vidsearch.inference.torchserve_process import TorchServeProcess, java_available

pytestmark = [
    pytest.mark.torchserve,
    pytest.mark.skipif(not java_available(), reason="TorchServe needs Java 17+: no java found"),
]

BACKBONE = {"arch": "small", "widths": [8, 8, 16, 16], "blocks": [1, 1, 1, 1], "input_size": 32}
HASH_CONFIG = {"model": {"backbone": BACKBONE, "heads": {"texture_dim": 16, "hidden": 0}}}
BARLOW_CONFIG = {"model": {"backbone": BACKBONE, "projector": {"hidden": [32], "out_dim": 64}}}
TOY = (FRAME_ENCODER.name, HASH_TEXTURE_HEADS.name, VIDEO_EMBEDDER.name)


def _checkpoint(path: Path, kind: Literal["video_hash", "barlow"], config: dict[str, Any]) -> Path:
    from vidsearch.networks.barlow import build_video_embedder
    from vidsearch.networks.video_hash import build_video_hash_model
    from vidsearch.training.checkpoint import Checkpoint, save_checkpoint

    build = build_video_hash_model if kind == "video_hash" else build_video_embedder
    state = build(config).state_dict()
    ckpt = Checkpoint(
        kind=kind, model_version=1, config=config, data_version="t", metrics={}, state_dict=state
    )
    return save_checkpoint(path, ckpt)


@dataclass
class Served:
    server: TorchServeProcess
    store: Path
    toy_repo: Path  # toy family, version 1
    hash_repo: Path  # video_hash family, version 2
    checkpoint: Path


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("torchserve")
    toy_repo, hash_repo, store = root / "toy_repo", root / "hash_repo", root / "store"
    checkpoint = _checkpoint(root / "video_hash.pt", "video_hash", HASH_CONFIG)
    export_family("toy", None, toy_repo)
    export_family("video_hash", checkpoint, hash_repo, version=2)
    archive_family("toy", None, store, repository=toy_repo)
    archive_family("video_hash", checkpoint, store, repository=hash_repo)
    server = TorchServeProcess(store, work_dir=root / "work")
    with server:
        print(f"\nTorchServe serving 5 archives after {server.startup_seconds:.1f} s")
        yield Served(server, store, toy_repo, hash_repo, checkpoint)
        started = time.perf_counter()
    print(f"TorchServe stopped in {time.perf_counter() - started:.1f} s")
    assert not server.running


def _inputs(signature: dict[str, Any], batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for spec in signature["inputs"]:
        shape = [batch, *(3 if d < 0 else d for d in spec["shape"])]
        if spec["dtype"] == "uint8":
            out[spec["name"]] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        else:
            out[spec["name"]] = rng.standard_normal(shape).astype(spec["dtype"])
    return out


def _assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert got[name].shape == value.shape, name
        if name == "hash_bits":
            np.testing.assert_array_equal(got[name], value)
        else:
            np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-4, err_msg=name)


def test_store_layout_and_manifests(served: Served) -> None:
    assert list_archives(served.store) == {
        FRAME_ENCODER.name: [1, 2],
        HASH_TEXTURE_HEADS.name: [1, 2],
        VIDEO_EMBEDDER.name: [1],
    }
    with zipfile.ZipFile(served.store / "hash_texture_heads.v2.mar") as archive:
        manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))["model"]
        provenance = json.loads(archive.read("provenance.json"))
        signature = json.loads(archive.read("signature.json"))
    assert (manifest["modelName"], manifest["modelVersion"]) == (HASH_TEXTURE_HEADS.name, "2")
    assert manifest["serializedFile"] == "model.pt" and manifest["configFile"]
    assert provenance["family"] == "video_hash" and provenance["onnx_check"].startswith("PASS")
    assert "0/" in provenance["onnx_check"]  # no hash bit differs from the ONNX file
    assert [o["name"] for o in signature["outputs"]] == ["texture", "hash_logits", "hash_bits"]


@pytest.mark.parametrize("model", TOY)
def test_toy_family_matches_onnxruntime(served: Served, model: str) -> None:
    reference = OnnxRuntimeBackend(served.toy_repo)
    signature = next(
        s for s in served.server.signatures if (s["model"], s["version"]) == (model, 1)
    )
    for batch, seed in ((1, 0), (4, 1)):
        inputs = _inputs(signature, batch, seed)
        got = served.server.infer(model, inputs, version=1)
        _assert_same(got, reference.infer(model, inputs, version=1))


@pytest.mark.parametrize("model", [FRAME_ENCODER.name, HASH_TEXTURE_HEADS.name])
def test_video_hash_family_matches_onnxruntime(served: Served, model: str) -> None:
    reference = OnnxRuntimeBackend(served.hash_repo)
    signature = next(
        s for s in served.server.signatures if (s["model"], s["version"]) == (model, 2)
    )
    inputs = _inputs(signature, 5, seed=7)
    _assert_same(served.server.infer(model, inputs, version=2), reference.infer(model, inputs))
    # No version: the highest one answers (as with Triton's latest policy).
    _assert_same(served.server.infer(model, inputs), reference.infer(model, inputs))


def test_json_body_equals_npy_body(served: Served) -> None:
    import urllib.request

    frames = _inputs({"inputs": [{"name": "frames", "dtype": "uint8", "shape": [32, 32, 3]}]}, 2, 3)
    body = json.dumps({"frames": frames["frames"].tolist()}).encode()
    request = urllib.request.Request(
        f"{served.server.inference_url}/predictions/frame_encoder/1",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    npy = served.server.infer(FRAME_ENCODER.name, frames, version=1)
    np.testing.assert_array_equal(np.asarray(answer["feature"], np.float32), npy["feature"])


def test_bad_requests_are_client_errors(served: Served) -> None:
    server = served.server
    wrong_size = {"frames": np.zeros((1, 16, 16, 3), np.uint8)}
    with pytest.raises(InferenceError, match=r"HTTP 400.*expected"):
        server.infer(FRAME_ENCODER.name, wrong_size, version=1)
    with pytest.raises(InferenceError, match=r"HTTP 400.*must be uint8"):
        floats = {"frames": np.zeros((1, 32, 32, 3), np.float32)}
        server.infer(FRAME_ENCODER.name, floats, version=1)
    with pytest.raises(ModelNotFoundError):
        clip = {"frames": np.zeros((1, 2, 32, 32, 3), np.uint8)}
        server.infer(VIDEO_EMBEDDER.name, clip, version=2)
    assert server.is_healthy()  # the workers survived every bad request


def test_versions_and_concurrent_requests(served: Served) -> None:
    server = served.server
    assert server.model_versions(FRAME_ENCODER.name) == [1, 2]
    assert server.model_versions(VIDEO_EMBEDDER.name) == [1]
    reference = OnnxRuntimeBackend(served.toy_repo)
    batches = [
        _inputs({"inputs": [{"name": "feature", "dtype": "float32", "shape": [32]}]}, n, n)
        for n in (1, 2, 3, 1, 2, 3, 4, 1)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(lambda x: server.infer(HASH_TEXTURE_HEADS.name, x, version=1), batches)
        )
    for inputs, got in zip(batches, answers, strict=True):
        _assert_same(got, reference.infer(HASH_TEXTURE_HEADS.name, inputs, version=1))


def test_archive_refuses_other_weights_and_overwrites(served: Served, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="does not reproduce"):  # seed 10 != version 1
        archive_family("toy", None, tmp_path, repository=served.toy_repo, seed=10)
    archive_family("toy", None, tmp_path, version=3)
    with pytest.raises(ArchiveError, match="never replaced"):
        archive_family("toy", None, tmp_path, version=3)
    assert list_archives(tmp_path) == {m: [3] for m in TOY}


def test_cli_archive_starter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "starter"
    _checkpoint(folder / "video_hash.pt", "video_hash", HASH_CONFIG)
    _checkpoint(folder / "barlow.pt", "barlow", BARLOW_CONFIG)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    store = tmp_path / "store"
    args = parser.parse_args(
        ["archive", "starter", "--checkpoints", str(folder), "--model-store", str(store)]
    )
    assert args.func(args) == 0
    lines = json.loads(capsys.readouterr().out)
    assert sorted(line["model"] for line in lines) == sorted(TOY)
    assert list_archives(store) == {m: [1] for m in TOY}


def test_empty_store_is_refused(tmp_path: Path) -> None:
    from vidsearch.inference.torchserve_process import TorchServeError

    with pytest.raises(TorchServeError, match=r"no \.mar archive"):
        TorchServeProcess(tmp_path, work_dir=tmp_path / "work")
