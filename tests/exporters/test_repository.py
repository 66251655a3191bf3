"""Repository layout: monotonic versions, no silent overwrite, provenance."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsearch.contract.triton_config import ModelConfig, read_config
from vidsearch.exporters.repository import (
    RepositoryError,
    VersionExistsError,
    list_models,
    next_version,
    read_provenance,
    write_model_version,
)


def _write(repo: Path, onnx: Path, version: int | None = None, force: bool = False) -> Path:
    return write_model_version(
        repo,
        "m",
        onnx_path=onnx,
        config=ModelConfig("m", platform="onnxruntime_onnx", max_batch_size=4),
        provenance={"checkpoint_sha256": "ab" * 32},
        version=version,
        force=force,
    )


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"first")
    return path


def test_versions_increase_and_are_listed(tmp_path: Path, onnx_file: Path) -> None:
    repo = tmp_path / "repo"
    assert list_models(repo) == {}
    assert next_version(repo, "m") == 1
    assert _write(repo, onnx_file).name == "1"
    assert _write(repo, onnx_file).name == "2"
    (repo / "m" / ".staging-9-dead").mkdir()  # leftovers and hidden folders are ignored
    (repo / ".hidden").mkdir()
    assert list_models(repo) == {"m": [1, 2]}
    assert next_version(repo, "m") == 3
    assert read_config(repo / "m" / "config.pbtxt").max_batch_size == 4
    record = read_provenance(repo, "m", 2)
    assert record["version"] == 2 and record["model"] == "m"
    assert record["checkpoint_sha256"] == "ab" * 32


def test_existing_version_is_refused_unless_forced(tmp_path: Path, onnx_file: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo, onnx_file)
    replacement = tmp_path / "other.onnx"
    replacement.write_bytes(b"second")
    with pytest.raises(VersionExistsError, match="never overwritten"):
        _write(repo, replacement, version=1)
    assert (repo / "m" / "1" / "model.onnx").read_bytes() == b"first"
    _write(repo, replacement, version=1, force=True)
    assert (repo / "m" / "1" / "model.onnx").read_bytes() == b"second"
    assert list_models(repo) == {"m": [1]}
    assert not [p for p in (repo / "m").iterdir() if p.name.startswith(".")]


def test_lower_version_is_refused(tmp_path: Path, onnx_file: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo, onnx_file, version=3)
    with pytest.raises(RepositoryError, match="only increase"):
        _write(repo, onnx_file, version=2)
    with pytest.raises(RepositoryError, match="start at 1"):
        _write(repo, onnx_file, version=0)


def test_config_name_must_match(tmp_path: Path, onnx_file: Path) -> None:
    with pytest.raises(RepositoryError, match="named"):
        write_model_version(
            tmp_path,
            "m",
            onnx_path=onnx_file,
            config=ModelConfig("other"),
            provenance={},
        )
