"""The real network families: a tiny checkpoint exports, verifies and checks out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vidsearch.cli import main as cli_main
from vidsearch.contract.models import FRAME_ENCODER, HASH_TEXTURE_HEADS, VIDEO_EMBEDDER
from vidsearch.exporters.families import family_for_kind, family_names, get_family
from vidsearch.exporters.pipeline import export_family, exporter_sources_sha256, stale_models
from vidsearch.exporters.repository import PROVENANCE_FILE, list_models, read_provenance
from vidsearch.exporters.signature_check import check_repository, onnx_signature

checkpoint = pytest.importorskip("vidsearch.training.checkpoint")
networks = pytest.importorskip("vidsearch.networks.video_hash")
barlow = pytest.importorskip("vidsearch.networks.barlow")

BACKBONE = {"arch": "small", "widths": [8, 8, 16, 16], "blocks": [1, 1, 1, 1], "input_size": 32}
HASH_CONFIG = {"model": {"backbone": BACKBONE, "heads": {"texture_dim": 16, "hidden": 0}}}
BARLOW_CONFIG = {"model": {"backbone": BACKBONE, "projector": {"hidden": [32], "out_dim": 64}}}


def _save(path: Path, kind: str, config: dict[str, Any], model_version: int = 1) -> Path:
    builder = (
        networks.build_video_hash_model if kind == "video_hash" else barlow.build_video_embedder
    )
    model = builder(config)
    ckpt = checkpoint.Checkpoint(
        kind=kind,
        model_version=model_version,
        config=config,
        data_version="synthetic-v1",
        metrics={"map": 0.5},
        state_dict=model.state_dict(),
    )
    return checkpoint.save_checkpoint(path, ckpt)


def test_registry() -> None:
    assert {"video_hash", "video_embedder", "toy"} <= set(family_names())
    assert family_for_kind("video_hash").served == (FRAME_ENCODER.name, HASH_TEXTURE_HEADS.name)
    assert family_for_kind("barlow").served == (VIDEO_EMBEDDER.name,)
    with pytest.raises(KeyError, match="unknown model family"):
        get_family("nope")


def test_video_hash_checkpoint_exports(tmp_path: Path) -> None:
    ckpt = _save(tmp_path / "video_hash.pt", "video_hash", HASH_CONFIG)
    repo = tmp_path / "repo"
    exported = export_family("video_hash", ckpt, repo, cpu_twin=tmp_path / "twin")
    assert [e.model for e in exported] == [FRAME_ENCODER.name, HASH_TEXTURE_HEADS.name]
    for e in exported:
        assert e.verification.passed, e.verification.failures
    heads = next(e for e in exported if e.model == HASH_TEXTURE_HEADS.name)
    assert next(o for o in heads.verification.outputs if o.name == "hash_bits").mismatches == 0
    inputs, outputs = onnx_signature(repo / HASH_TEXTURE_HEADS.name / "1" / "model.onnx")
    assert [o.name for o in outputs] == ["texture", "hash_logits", "hash_bits"]
    assert inputs[0].dims == (-1, 16)
    record = read_provenance(repo, FRAME_ENCODER.name, 1)
    assert record["data_version"] == "synthetic-v1" and record["metrics"] == {"map": 0.5}
    assert len(record["checkpoint_sha256"]) == 64
    assert record["training_config"] == HASH_CONFIG
    check_repository(repo)


def test_cli_export_starter_aligns_versions(tmp_path: Path) -> None:
    folder = tmp_path / "starter"
    _save(folder / "video_hash.pt", "video_hash", HASH_CONFIG)
    _save(folder / "barlow.pt", "barlow", BARLOW_CONFIG)
    repo = tmp_path / "repo"
    (repo / VIDEO_EMBEDDER.name / "1").mkdir(parents=True)  # an older, broken embedder export
    argv = ["export", "starter", "--checkpoints", str(folder), "--repository", str(repo)]
    assert cli_main(argv) == 0
    models = list_models(repo)
    assert models[FRAME_ENCODER.name] == models[HASH_TEXTURE_HEADS.name] == [2]
    assert models[VIDEO_EMBEDDER.name] == [1, 2]
    assert cli_main([*argv, "--if-missing"]) == 0  # nothing new
    assert list_models(repo)[FRAME_ENCODER.name] == [2]


def test_if_missing_exports_again_what_older_code_or_another_checkpoint_wrote(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "starter"
    _save(folder / "video_hash.pt", "video_hash", HASH_CONFIG)
    _save(folder / "barlow.pt", "barlow", BARLOW_CONFIG)
    repo = tmp_path / "repo"
    argv = [
        "export",
        "starter",
        "--checkpoints",
        str(folder),
        "--repository",
        str(repo),
        "--if-missing",
    ]
    assert cli_main(argv) == 0
    assert list_models(repo)[VIDEO_EMBEDDER.name] == list_models(repo)[FRAME_ENCODER.name] == [1]
    assert stale_models(repo, {VIDEO_EMBEDDER.name: folder / "barlow.pt"}) == {}

    # A repository exported before the exporter code changed: every model gets version 2.
    provenance = repo / HASH_TEXTURE_HEADS.name / "1" / PROVENANCE_FILE
    record = json.loads(provenance.read_text())
    record["exporter_sources_sha256"] = "0" * 64
    provenance.write_text(json.dumps(record))
    assert cli_main(argv) == 0
    assert {name: v[-1] for name, v in list_models(repo).items()} == dict.fromkeys(
        (FRAME_ENCODER.name, HASH_TEXTURE_HEADS.name, VIDEO_EMBEDDER.name), 2
    )
    assert read_provenance(repo, VIDEO_EMBEDDER.name, 2)["exporter_sources_sha256"] == (
        exporter_sources_sha256()
    )

    # A retrained checkpoint (the same file name, other weights): version 3.
    _save(folder / "barlow.pt", "barlow", BARLOW_CONFIG, model_version=2)
    assert stale_models(repo, {VIDEO_EMBEDDER.name: folder / "barlow.pt"}) == {
        VIDEO_EMBEDDER.name: "version 2 came from another barlow.pt"
    }
    assert cli_main(argv) == 0
    assert list_models(repo)[VIDEO_EMBEDDER.name][-1] == 3
    assert cli_main(argv) == 0  # up to date again
    assert list_models(repo)[VIDEO_EMBEDDER.name][-1] == 3
