"""The starter recipe: render data once, then Barlow -> stage 1 -> stage 2 (CPU-sized).

Writes into ``out_dir`` (``models/starter`` by default):
- ``barlow.pt``: the recommendation video embedder (Barlow Twins);
- ``stages/stage1.pt``: hash + texture network after stage 1 (image sub-model initialised
  from Barlow);
- ``video_hash.pt``: hash + texture network after stage 2 with Formula 7 (+ ``variants/
  video_hash_formula8.pt`` / ``variants/video_hash_fixed_margin.pt`` when asked for; all
  start from the same stage 1 checkpoint);
- ``*.metrics.jsonl`` per stage and ``starter_summary.json`` (timings, final metrics).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidsearch.training.barlow import train_barlow
from vidsearch.training.checkpoint import final_metrics, release_checkpoint
from vidsearch.training.common import set_threads, write_release_summary
from vidsearch.training.config import QuantLoss, StarterConfig
from vidsearch.training.data import render_splits
from vidsearch.training.hashing import train_stage1, train_stage2


def stage2_filename(quant_loss: QuantLoss) -> str:
    """``video_hash.pt`` for the seed's Formula 7 recipe, ``video_hash_<variant>.pt`` else."""
    return "video_hash.pt" if quant_loss == "formula7" else f"video_hash_{quant_loss}.pt"


def run_starter(cfg: StarterConfig, out_dir: str | Path, *, resume: bool = False,
                quant_losses: Sequence[QuantLoss] = ("formula7",),
                progress: bool = True) -> dict[str, Any]:
    """Run every stage (resuming finished/partial ones when ``resume``); returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_threads(cfg.num_threads)
    shared = {"data": cfg.data, "num_threads": cfg.num_threads}
    barlow = cfg.barlow.model_copy(update=shared)
    barlow_path, stage1_path = out / "barlow.pt", out / "stages" / "stage1.pt"
    hash_model = cfg.stage1.model.model_copy(update={"backbone": barlow.model.backbone})
    stage1 = cfg.stage1.model_copy(
        update={**shared, "init_from": str(barlow_path), "model": hash_model})
    timings: dict[str, float] = {}

    t0 = time.monotonic()
    corpus, val = render_splits(cfg.data, progress)
    timings["data"] = time.monotonic() - t0

    t0 = time.monotonic()
    train_barlow(barlow, barlow_path, resume=resume, corpus=corpus, progress=progress)
    timings["barlow"] = time.monotonic() - t0
    t0 = time.monotonic()
    train_stage1(stage1, stage1_path, resume=resume, corpus=corpus, val=val, progress=progress)
    timings["stage1"] = time.monotonic() - t0

    results: dict[str, Any] = {"barlow": final_metrics(barlow_path),
                               "stage1": final_metrics(stage1_path)}
    shipped_paths = [barlow_path]
    for ql in dict.fromkeys(quant_losses):
        stage2 = cfg.stage2.model_copy(update={
            **shared, "quant_loss": ql, "init_from": str(stage1_path), "model": hash_model})
        # variants live apart so `vidsearch export starter` (globs OUT/*.pt) sees one model
        path = out / stage2_filename(ql) if ql == "formula7" else out / "variants" / (
            stage2_filename(ql))
        t0 = time.monotonic()
        train_stage2(stage2, path, resume=resume, corpus=corpus, val=val, progress=progress)
        timings[f"stage2_{ql}"] = time.monotonic() - t0
        results[path.stem] = final_metrics(path)
        shipped_paths.append(path)

    for shipped in shipped_paths:
        release_checkpoint(shipped)  # the models that ship carry no optimizer state
    return write_release_summary(out / "starter_summary.json", timings, results,
                                 data_version=corpus.data_version)
