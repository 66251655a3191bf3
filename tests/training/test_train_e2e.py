"""A few steps of each trainer with a tiny model: checkpoints save, load and resume."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from vidsearch.training.barlow import train_barlow
from vidsearch.training.checkpoint import load_checkpoint
from vidsearch.training.cli import register
from vidsearch.training.config import BarlowConfig, DataConfig, Stage1Config, Stage2Config
from vidsearch.training.data import Corpus
from vidsearch.training.hashing import train_stage1, train_stage2

DATA = DataConfig(n_videos=6, duration_s=4.0, frame_size=32, n_val_videos=3)
BACKBONE = {"widths": [4, 8, 8, 8], "input_size": 32}
HEADS = {"texture_dim": 8, "hash_bits": 16, "hidden": 8}
COMMON = {"data": DATA.model_dump(), "steps_per_epoch": 2, "warmup_steps": 1, "num_threads": 1,
          "batch_size": 4}
HASH = {**COMMON, "model": {"backbone": BACKBONE, "heads": HEADS}, "m": 2, "eval_queries": 8}


def _corpus(n_videos: int, seed: int) -> Corpus:
    gen = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (n_videos, 8, 32, 32, 3), generator=gen, dtype=torch.uint8)
    return Corpus(frames, render_fps=2.0, sample_fps=1.0, data_version=f"fake-{seed}")


TRAIN, VAL = _corpus(6, 0), _corpus(3, 1)


def test_barlow_trains_saves_and_resumes(tmp_path: Path) -> None:
    cfg = BarlowConfig.model_validate({**COMMON, "clip_len": 2, "max_epochs": 1, "model": {
        "backbone": BACKBONE, "projector": {"hidden": [16], "out_dim": 32}}})
    out = tmp_path / "barlow.pt"
    ck = train_barlow(cfg, out, corpus=TRAIN, progress=False)
    assert ck is not None and out.exists()
    loaded = load_checkpoint(out)
    assert loaded.kind == "barlow" and loaded.epoch == 1 and loaded.step == 2
    assert loaded.data_version == "fake-0" and loaded.metrics["stop_reason"] == "max_epochs"
    assert loaded.build_model()(torch.zeros(2, 2, 32, 32, 3, dtype=torch.uint8)).shape == (2, 32)
    # finished: resuming does nothing; a higher epoch cap continues from step 2
    assert train_barlow(cfg, out, resume=True, corpus=TRAIN, progress=False) is None
    more = cfg.model_copy(update={"max_epochs": 2})
    ck2 = train_barlow(more, out, resume=True, corpus=TRAIN, progress=False)
    assert ck2 is not None and ck2.epoch == 2 and ck2.step == 4
    assert len(ck2.metrics["history"]) == 2
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temp files


def test_stage1_then_stage2_variants(tmp_path: Path) -> None:
    barlow = BarlowConfig.model_validate({**COMMON, "clip_len": 2, "max_epochs": 1, "model": {
        "backbone": BACKBONE, "projector": {"hidden": [16], "out_dim": 32}}})
    train_barlow(barlow, tmp_path / "barlow.pt", corpus=TRAIN, progress=False)

    s1 = Stage1Config.model_validate({**HASH, "max_epochs": 1,
                                      "init_from": str(tmp_path / "barlow.pt")})
    ck1 = train_stage1(s1, tmp_path / "stage1.pt", corpus=TRAIN, val=VAL, progress=False)
    assert ck1 is not None and ck1.kind == "video_hash"
    # the image sub-model started from the Barlow encoder: weights moved, names shared
    b_state = load_checkpoint(tmp_path / "barlow.pt").state_dict
    assert set(k for k in b_state if k.startswith("encoder.")) == set(
        k for k in ck1.state_dict if k.startswith("encoder."))
    for key in ("l_em", "frame_texture_r1", "hash_keeps_texture_top10", "video_hash_r1"):
        assert key in ck1.metrics

    for ql in ("formula7", "formula8", "fixed_margin"):
        distill = 5.0 if ql == "formula7" else 0.0  # the addition is logged only when on
        s2 = Stage2Config.model_validate({**HASH, "max_epochs": 1, "quant_loss": ql,
                                          "w_distill": distill,
                                          "init_from": str(tmp_path / "stage1.pt")})
        ck2 = train_stage2(s2, tmp_path / f"{ql}.pt", corpus=TRAIN, val=VAL, progress=False)
        assert ck2 is not None
        assert ck2.config["quant_loss"] == ql
        assert {"l_em", "l_q", "l_triplet", "l_coding"} <= ck2.metrics.keys()
        assert ("l_distill" in ck2.metrics) == (distill > 0)
        model = load_checkpoint(tmp_path / f"{ql}.pt").build_model()
        tex, _, bits = model(torch.zeros(3, 32, 32, 3, dtype=torch.uint8))
        assert tex.shape == (3, 8) and bits.shape == (3, 16)


def test_stage1_resume_continues_steps(tmp_path: Path) -> None:
    out = tmp_path / "stage1.pt"
    s1 = Stage1Config.model_validate({**HASH, "max_epochs": 1, "loss_threshold": 0.0})
    train_stage1(s1, out, corpus=TRAIN, val=VAL, progress=False)
    first = load_checkpoint(out)
    ck = train_stage1(s1.model_copy(update={"max_epochs": 2}), out, resume=True, corpus=TRAIN,
                      val=VAL, progress=False)
    assert ck is not None and (ck.epoch, ck.step) == (2, 4)
    assert ck.optimizer is not None and first.optimizer is not None
    changed = any(not torch.equal(first.state_dict[k], ck.state_dict[k]) for k in ck.state_dict)
    assert changed
    lines = (tmp_path / "stage1.metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


def test_cli_registers_train_commands(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="vidsearch")
    register(parser.add_subparsers(dest="command"))
    config = tmp_path / "x.yaml"
    config.write_text("{}\n")
    args = parser.parse_args(["train", "stage2", "--config", str(config), "--out", str(tmp_path),
                              "--quant-loss", "formula8", "--resume"])
    assert callable(args.func) and args.quant_loss == "formula8" and args.resume
    assert args.config == config
    args = parser.parse_args(["train", "starter", "--quant-loss", "formula8", "fixed_margin"])
    assert args.quant_loss == ["formula8", "fixed_margin"] and args.out == "models/starter"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "stage2", "--quant-loss", "formula9"])
