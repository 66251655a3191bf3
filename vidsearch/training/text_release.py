"""`vidsearch train text-release`: the semantic encoder, then the text -> video heads on it.

One recipe, one shared data section: the semantic frame encoder learns the scene facts,
then the text heads (temporal encoder, adaptive weights, text-conditioned pooling, stage
1 embedding) learn on its frozen features against the frozen MiniLM text encoder. The
text checkpoint carries the encoder's weights, so it alone is what gets exported.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vidsearch.training.checkpoint import final_metrics, release_checkpoint
from vidsearch.training.common import set_threads, write_release_summary
from vidsearch.training.config import DataConfig
from vidsearch.training.semantic import SemanticTrainConfig, load_frame_encoder, train_semantic
from vidsearch.training.text_video import TextVideoTrainConfig, train_text_video


class TextReleaseConfig(BaseModel):
    """configs/training/text_release.yaml (release) and text_starter.yaml (`make models`)."""

    model_config = ConfigDict(extra="forbid")

    num_threads: int | None = Field(default=2, ge=1)
    data: DataConfig
    semantic: SemanticTrainConfig = SemanticTrainConfig()
    semantic_checkpoint: str | None = Field(
        default=None,
        description="a semantic encoder trained elsewhere (the GPU script's semantic.pt): "
                    "the text heads are trained on it and the semantic section is not run")
    text_video: TextVideoTrainConfig = TextVideoTrainConfig()


def run_text_release(cfg: TextReleaseConfig, out_dir: str | Path, *, resume: bool = False,
                     progress: bool = True) -> dict[str, Any]:
    """Writes OUT/semantic.pt, OUT/text_video.pt (no optimizer state) and
    OUT/text_release_summary.json (provenance and held-out metrics)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_threads(cfg.num_threads)
    semantic_path, text_path = out / "stages" / "semantic.pt", out / "text_video.pt"
    shared = {"data": cfg.data, "num_threads": cfg.num_threads}
    semantic = cfg.semantic.model_copy(update=shared)
    if cfg.semantic_checkpoint:
        semantic_path = Path(cfg.semantic_checkpoint)
        semantic = semantic.model_copy(update={"model": load_frame_encoder(semantic_path).cfg})
    text_model = cfg.text_video.model.model_copy(update={"visual": "semantic",
                                                          "semantic": semantic.model})
    text = cfg.text_video.model_copy(update={**shared, "model": text_model,
                                             "init_frame_encoder": str(semantic_path)})
    timings: dict[str, float] = {}
    if not cfg.semantic_checkpoint:
        t0 = time.monotonic()
        train_semantic(semantic, semantic_path, resume=resume, progress=progress)
        timings["semantic"] = time.monotonic() - t0
    t0 = time.monotonic()
    train_text_video(text, text_path, resume=resume, progress=progress)
    timings["text_video"] = time.monotonic() - t0
    release_checkpoint(text_path)
    return write_release_summary(
        out / "text_release_summary.json", timings,
        {name: final_metrics(path) for name, path in
         (("semantic", semantic_path), ("text_video", text_path))},
        recipe="semantic frame encoder (fact heads) -> text heads on its frozen features "
               "(symmetric InfoNCE against frozen all-MiniLM-L6-v2)",
        config=cfg.model_dump(mode="json"),
    )
