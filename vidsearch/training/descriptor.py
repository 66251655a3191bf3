"""Copy descriptor training (SSCD-style) and the copy-detection release recipe.

Stage 1 (Formula 1 on a few mined triplets) learned too little on a CPU budget: a copy
descriptor needs every other frame of the batch as a negative. Following SSCD (Pizzi et
al., CVPR 2022): InfoNCE between a lightly edited reference frame and a heavily edited
copy (crop, pad, flip, rot90, colour, greyscale, blur, noise, overlays, picture in
picture, re-encode) plus a KoLeo entropy term. The descriptor is the near-duplicate texture
head's output, so serving, export and the Hamming coarse filter are unchanged; the hash
head is then trained by stage 2 (Formula 7 + rank distillation) on the frozen descriptor.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from torch import Tensor

from vidsearch.networks.video_hash import VideoHashModel
from vidsearch.training import losses as L
from vidsearch.training.checkpoint import Checkpoint, final_metrics, release_checkpoint
from vidsearch.training.common import set_threads, write_release_summary
from vidsearch.training.config import CopyReleaseConfig, DescriptorConfig
from vidsearch.training.data import Corpus, render_splits
from vidsearch.training.hashing import StepFn, start_video_hash_model, train_loop, train_stage2


def descriptor_losses(cfg: DescriptorConfig) -> StepFn:
    def step(model: VideoHashModel, x: Tensor, pairs: Tensor,
             groups: Tensor) -> dict[str, Tensor]:
        z = model.heads.texture_features(model.encoder.forward_float(x))
        l_nce = L.info_nce_loss(z, pairs, cfg.temperature)
        l_koleo = L.koleo_loss(z, groups)
        return {"loss": l_nce + cfg.koleo_weight * l_koleo, "l_nce": l_nce, "l_koleo": l_koleo}
    return step


def train_descriptor(cfg: DescriptorConfig, out: str | Path, *, resume: bool = False,
                     corpus: Corpus | None = None, val: Corpus | None = None,
                     progress: bool = True) -> Checkpoint | None:
    """Image + texture sub-models by InfoNCE + KoLeo; the quantization head is untouched."""
    model = start_video_hash_model(cfg, Path(out), resume)
    params = [*model.encoder.parameters(), *model.heads.texture.parameters()]
    return train_loop(cfg, Path(out), model, params, descriptor_losses(cfg), lambda _r: False,
                      resume, corpus, val, progress)


def run_copy_release(cfg: CopyReleaseConfig, out_dir: str | Path, *, resume: bool = False,
                     progress: bool = True) -> dict[str, Any]:
    """Render data, train the descriptor, then the hash head; writes ``video_hash.pt``
    (optimizer state dropped) and ``copy_release_summary.json`` (provenance)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_threads(cfg.num_threads)
    shared = {"data": cfg.data, "num_threads": cfg.num_threads}
    descriptor = cfg.descriptor.model_copy(update=shared)
    stage1_path, final_path = out / "stages" / "descriptor.pt", out / "video_hash.pt"
    stage2 = cfg.stage2.model_copy(update={
        **shared, "init_from": str(stage1_path), "model": descriptor.model,
        "train_encoder": False})
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    corpus, val = render_splits(cfg.data, progress)
    timings["data"] = time.monotonic() - t0
    t0 = time.monotonic()
    train_descriptor(descriptor, stage1_path, resume=resume, corpus=corpus, val=val,
                     progress=progress)
    timings["descriptor"] = time.monotonic() - t0
    t0 = time.monotonic()
    train_stage2(stage2, final_path, resume=resume, corpus=corpus, val=val, progress=progress)
    timings["stage2"] = time.monotonic() - t0
    release_checkpoint(final_path)
    return write_release_summary(
        out / "copy_release_summary.json", timings,
        {"descriptor": final_metrics(stage1_path), "video_hash": final_metrics(final_path)},
        recipe="copy descriptor (InfoNCE + KoLeo) -> stage 2 hash head on the frozen "
               "descriptor (Formula 7 + rank distillation)",
        data_version=corpus.data_version, config=cfg.model_dump(mode="json"),
    )
