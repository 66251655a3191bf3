"""Export pipeline end to end: toy and real-network families, CPU twin, signature checks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from vidsearch.cli import main as cli_main
from vidsearch.contract.models import FRAME_ENCODER, HASH_TEXTURE_HEADS, VIDEO_EMBEDDER
from vidsearch.contract.triton_config import read_config
from vidsearch.exporters.cpu_twin import sync_cpu_twin
from vidsearch.exporters.pipeline import export_family
from vidsearch.exporters.repository import VersionExistsError, list_models, read_provenance
from vidsearch.exporters.signature_check import (
    SignatureMismatchError,
    check_model,
    check_repository,
    check_twin,
)
from vidsearch.exporters.triton_config import write_config

MODELS = [FRAME_ENCODER.name, HASH_TEXTURE_HEADS.name, VIDEO_EMBEDDER.name]


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("export")
    prod, twin = root / "model_repository", root / "twin"
    export_family("toy", None, prod, cpu_twin=twin, seed=0)
    export_family("toy", None, prod, cpu_twin=twin, seed=10)
    return prod, twin


def test_versions_are_aligned_and_recorded(repos: tuple[Path, Path]) -> None:
    prod, twin = repos
    assert list_models(prod) == {m: [1, 2] for m in MODELS}
    assert list_models(twin) == {m: [1, 2] for m in MODELS}
    record = read_provenance(prod, HASH_TEXTURE_HEADS.name, 2)
    assert record["family"] == "toy" and record["version"] == 2
    assert record["onnx"]["opset"] >= 17 and record["onnx"]["exporter"] == "torchscript"
    assert record["verification"]["passed"] is True
    bits = next(o for o in record["verification"]["outputs"] if o["name"] == "hash_bits")
    assert bits["mismatches"] == 0
    assert record["exporter_version"] and record["libraries"]["onnxruntime"]
    assert {"checkpoint_sha256", "training_config", "metrics", "data_version"} <= set(record)


def test_production_and_twin_configs(repos: tuple[Path, Path]) -> None:
    prod, twin = repos
    gpu = read_config(prod / FRAME_ENCODER.name / "config.pbtxt")
    cpu = read_config(twin / FRAME_ENCODER.name / "config.pbtxt")
    assert gpu.platform == "onnxruntime_onnx" and gpu.instance_groups[0].kind == "KIND_GPU"
    assert cpu.backend == "python" and cpu.instance_groups[0].kind == "KIND_CPU"
    assert cpu.platform == "" and cpu.gpu_accelerators == ()
    assert (gpu.inputs, gpu.outputs, gpu.dynamic_batching) == (
        cpu.inputs,
        cpu.outputs,
        cpu.dynamic_batching,
    )
    assert gpu.inputs[0].dims == (32, 32, 3) and gpu.max_batch_size == 64
    for model in MODELS:
        assert check_twin(prod, twin, model) == []
        for version in (1, 2):
            a = prod / model / str(version) / "model.onnx"
            b = twin / model / str(version) / "model.onnx"
            assert a.stat().st_ino == b.stat().st_ino  # hard link: the very same bytes
            assert (twin / model / str(version) / "model.py").is_file()
    check_repository(prod)


def test_signature_check_catches_wrong_dtype_and_dim(
    tmp_path: Path, repos: tuple[Path, Path]
) -> None:
    prod, _ = repos
    config = read_config(prod / HASH_TEXTURE_HEADS.name / "config.pbtxt")
    broken = tmp_path / "repo"
    (broken / HASH_TEXTURE_HEADS.name).mkdir(parents=True)
    for version in (1, 2):
        (broken / HASH_TEXTURE_HEADS.name / str(version)).symlink_to(
            prod / HASH_TEXTURE_HEADS.name / str(version)
        )
    wrong_dtype = dataclasses.replace(config.inputs[0], data_type="TYPE_FP16")
    wrong_dim = dataclasses.replace(config.outputs[2], dims=(64,))
    write_config(
        broken / HASH_TEXTURE_HEADS.name / "config.pbtxt",
        dataclasses.replace(
            config, inputs=(wrong_dtype,), outputs=(*config.outputs[:2], wrong_dim)
        ),
    )
    with pytest.raises(SignatureMismatchError) as caught:
        check_repository(broken)
    text = str(caught.value)
    assert "input 'feature' data_type TYPE_FP16 but ONNX is float32 (TYPE_FP32)" in text
    assert "output 'hash_bits' dims [64] but ONNX dims (after the batch axis) are [128]" in text
    assert len(caught.value.problems) == 4  # two problems x two versions

    unbatched = dataclasses.replace(config, max_batch_size=0)
    write_config(broken / HASH_TEXTURE_HEADS.name / "config.pbtxt", unbatched)
    problems = check_model(broken, HASH_TEXTURE_HEADS.name)
    assert any("dims [32] but ONNX dims are [-1, 32]" in p for p in problems)

    renamed = dataclasses.replace(config, inputs=(dataclasses.replace(config.inputs[0], name="x"),))
    write_config(broken / HASH_TEXTURE_HEADS.name / "config.pbtxt", renamed)
    problems = check_model(broken, HASH_TEXTURE_HEADS.name)
    assert any("config input 'x' is not in the ONNX graph" in p for p in problems)
    assert any("ONNX input 'feature' is not in config.pbtxt" in p for p in problems)


def test_existing_version_is_refused(tmp_path: Path, repos: tuple[Path, Path]) -> None:
    prod, _ = repos
    with pytest.raises(VersionExistsError):
        export_family("toy", None, prod, version=2)
    assert list_models(prod)[FRAME_ENCODER.name] == [1, 2]


def test_twin_refuses_diverging_bytes(tmp_path: Path) -> None:
    prod, twin = tmp_path / "prod", tmp_path / "twin"
    export_family("toy", None, prod, cpu_twin=twin)
    export_family("toy", None, prod, version=1, force=True, seed=3)  # prod v1 replaced
    with pytest.raises(VersionExistsError, match=r"different model\.onnx"):
        sync_cpu_twin(prod, twin)
    assert check_twin(prod, twin, FRAME_ENCODER.name)
    sync_cpu_twin(prod, twin, force=True)
    assert check_twin(prod, twin, FRAME_ENCODER.name) == []


def test_cli_export_toy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo, twin = tmp_path / "repo", tmp_path / "twin"
    argv = ["export", "--family", "toy", "--repository", str(repo), "--cpu-twin", str(twin)]
    assert cli_main(argv) == 0
    lines = json.loads(capsys.readouterr().out)
    assert [line["model"] for line in lines] == MODELS
    assert all(line["version"] == 1 and line["verification"].startswith("PASS") for line in lines)
    assert list_models(twin) == {m: [1] for m in MODELS}
