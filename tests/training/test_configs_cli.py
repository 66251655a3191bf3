"""Shipped YAML configs parse into the typed models; the CLI trains from a YAML file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from vidsearch.training.checkpoint import load_checkpoint
from vidsearch.training.cli import _stage_section, register
from vidsearch.training.config import (
    BarlowConfig,
    Stage1Config,
    Stage2Config,
    StarterConfig,
    load_config,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "training"


@pytest.mark.parametrize(("name", "cls"), [("barlow", BarlowConfig), ("stage1", Stage1Config),
                                           ("stage2", Stage2Config), ("starter", StarterConfig)])
def test_shipped_configs_parse(name: str, cls: type[BaseModel]) -> None:
    cfg: BaseModel = load_config(CONFIGS / f"{name}.yaml", cls)
    assert isinstance(cfg, cls)  # every key known (extra keys are errors)


def test_starter_config_matches_the_brief() -> None:
    cfg = load_config(CONFIGS / "starter.yaml", StarterConfig)
    assert cfg.data.frame_size == 64 and cfg.num_threads == 2
    assert cfg.barlow.model.projector.out_dim == 4096 and cfg.barlow.lambd == 0.001
    assert cfg.stage1.model.heads.texture_dim == 128 and cfg.stage1.model.heads.hash_bits == 128
    assert cfg.barlow.model.backbone.widths == (32, 64, 128, 256)
    assert cfg.stage2.quant_loss == "formula7"


def test_stage_section_of_a_starter_yaml(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"data": {"n_videos": 7}, "stage1": {"m": 3}}))
    assert _stage_section(path, "stage1") == {"m": 3, "data": {"n_videos": 7}}


def test_cli_stage1_from_yaml(tmp_path: Path) -> None:
    cfg = {"data": {"n_videos": 4, "duration_s": 4.0, "render_width": 32, "render_height": 24,
                    "frame_size": 32, "n_val_videos": 2},
           "model": {"backbone": {"widths": [4, 8, 8, 8], "input_size": 32},
                     "heads": {"texture_dim": 8, "hash_bits": 16, "hidden": 0}},
           "batch_size": 4, "m": 2, "steps_per_epoch": 1, "max_epochs": 1, "eval_queries": 8}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "stage1", "--config", str(path), "--out",
                              str(tmp_path / "out"), "--threads", "1", "--no-progress"])
    assert args.func(args) == 0
    ck = load_checkpoint(tmp_path / "out" / "stage1.pt")
    assert ck.kind == "video_hash" and ck.step == 1
    assert ck.data_version.startswith("synthetic-train-4x4s-")


def test_starter_recipe_writes_the_expected_files(tmp_path: Path) -> None:
    from vidsearch.training.starter import run_starter

    backbone = {"widths": [4, 8, 8, 8], "input_size": 32}
    heads = {"texture_dim": 8, "hash_bits": 16, "hidden": 0}
    small = {"batch_size": 4, "steps_per_epoch": 1, "max_epochs": 1}
    cfg = StarterConfig.model_validate({
        "num_threads": 1,
        "data": {"n_videos": 4, "duration_s": 4.0, "render_width": 32, "render_height": 24,
                 "frame_size": 32, "n_val_videos": 2},
        "barlow": {**small, "clip_len": 2,
                   "model": {"backbone": backbone, "projector": {"hidden": [8], "out_dim": 16}}},
        "stage1": {**small, "m": 2, "eval_queries": 8, "model": {"heads": heads}},
        "stage2": {**small, "m": 2, "eval_queries": 8},
    })
    summary = run_starter(cfg, tmp_path, quant_losses=("formula7", "formula8"), progress=False)
    for name in ("barlow.pt", "video_hash.pt", "stages/stage1.pt",
                 "variants/video_hash_formula8.pt", "starter_summary.json"):
        assert (tmp_path / name).exists(), name
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["barlow.pt", "video_hash.pt"]
    hash_ck = load_checkpoint(tmp_path / "video_hash.pt")
    assert hash_ck.config["model"]["backbone"]["widths"] == [4, 8, 8, 8]  # from the Barlow model
    assert hash_ck.config["quant_loss"] == "formula7"
    assert set(summary["seconds"]) == {"data", "barlow", "stage1", "stage2_formula7",
                                       "stage2_formula8"}
