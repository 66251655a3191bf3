"""`vidsearch train captioner`: the seed 000 captioner on frozen semantic frame features.

Schedule (RecNet): ``ce_epochs`` of cross-entropy for the encoder-decoder, then
``joint_epochs`` of cross-entropy + ``recon_weight`` x the reconstructor's loss, the
reconstructor and the decoder trained together (with ``reconstructor: none`` the second
stage is plain cross-entropy, so every variant trains for as many steps). Each step takes
distinct videos and one of their reference captions at random. Validation decodes greedily
after each epoch; the test split is decoded greedily and by beam search at the end, with
the loop the server runs (``inference.caption_search``).

The checkpoint (kind ``captioner``) carries the frozen semantic frame encoder too, so it
alone is what gets exported, and its config carries the vocabulary.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn
from tqdm import tqdm

from vidsearch.inference.caption_search import Decoded, Step, beam_search, greedy
from vidsearch.networks.captioner import (
    BOS,
    EOS,
    PAD,
    Captioner,
    CaptionerConfig,
    Reconstructor,
    build_reconstructor,
)
from vidsearch.networks.semantic import SemanticConfig, SemanticEncoder
from vidsearch.training.caption_data import (
    CaptionDataConfig,
    CaptionSplit,
    Vocabulary,
    build_vocabulary,
    load_caption_split,
    pad_captions,
)
from vidsearch.training.caption_metrics import fact_accuracy, language_metrics
from vidsearch.training.captions import captions_for
from vidsearch.training.checkpoint import Checkpoint, load_checkpoint, release_checkpoint
from vidsearch.training.common import (
    MetricsLog,
    RunState,
    adamw,
    lr_at,
    metrics_path,
    set_lr,
    set_threads,
    write_checkpoint,
    write_release_summary,
)
from vidsearch.training.semantic import load_frame_encoder

Decoding = Literal["greedy", "beam"]


class CaptionerTrainConfig(BaseModel):
    """configs/training/captioner_starter.yaml."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["captioner"] = "captioner"
    data: CaptionDataConfig = CaptionDataConfig()
    model: CaptionerConfig = CaptionerConfig()
    recon_weight: float = Field(default=0.2, ge=0, description="lambda of the reconstructor")
    ce_epochs: int = Field(default=6, ge=0, description="stage 1: cross-entropy only")
    joint_epochs: int = Field(default=3, ge=0, description="stage 2: + lambda x reconstruction")
    steps_per_epoch: int = Field(default=100, ge=1)
    batch_size: int = Field(default=64, ge=2)
    lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: int = Field(default=50, ge=0)
    grad_clip: float = Field(default=5.0, gt=0)
    max_words: int = Field(default=64, ge=2, description="decoding stops after this many")
    beam: int = Field(default=5, ge=1)
    length_alpha: float = Field(default=0.0, ge=0, description="beam length normalisation")
    min_word_count: int = Field(default=1, ge=1)
    seed: int = 0
    num_threads: int | None = Field(default=2, ge=1)
    model_version: int = Field(default=1, ge=1)


class StoredCaptioner(nn.Module):
    """What the checkpoint holds: frozen frame encoder, captioner, reconstructor."""

    def __init__(self, frames: SemanticEncoder, captioner: Captioner,
                 reconstructor: Reconstructor | None) -> None:
        super().__init__()
        self.frames, self.captioner, self.reconstructor = frames, captioner, reconstructor


def torch_step(model: Captioner, memory: Tensor, mask: Tensor) -> Step:
    """The PyTorch twin of the served ``caption_step`` for ``inference.caption_search``."""

    @torch.no_grad()
    def step(words: np.ndarray, h: np.ndarray, c: np.ndarray,
             rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = torch.from_numpy(rows)
        logits, h2, c2 = model.step(torch.from_numpy(words), torch.from_numpy(h),
                                    torch.from_numpy(c), memory[idx], mask[idx])
        return logits.log_softmax(dim=-1).numpy(), h2.numpy(), c2.numpy()

    return step


@torch.no_grad()
def decode(model: Captioner, feats: Tensor, mask: Tensor, how: Decoding, *, max_words: int,
           beam: int = 5, alpha: float = 0.0, batch: int = 64) -> list[Decoded]:
    """Sentences (word ids) for every video of ``feats`` [V,T,F]."""
    model.eval()
    out: list[Decoded] = []
    for i in range(0, feats.shape[0], batch):
        memory, h, c = model.encode(feats[i:i + batch], mask[i:i + batch])
        step = torch_step(model, memory, mask[i:i + batch])
        hn, cn = h.numpy(), c.numpy()
        if how == "greedy":
            out += greedy(step, hn, cn, bos=BOS, eos=EOS, max_len=max_words)
        else:
            out += [beam_search(step, hn[r], cn[r], bos=BOS, eos=EOS, max_len=max_words,
                                beam=beam, alpha=alpha, row=r) for r in range(len(hn))]
    return out


def evaluate(model: Captioner, vocab: Vocabulary, split: CaptionSplit, how: Decoding,
             cfg: CaptionerTrainConfig, *, meteor: bool = False) -> dict[str, Any]:
    """Language metrics and fact accuracy of one decoding over a split (+ examples)."""
    t0 = time.perf_counter()
    decoded = decode(model, split.feats, split.mask, how, max_words=cfg.max_words,
                     beam=cfg.beam, alpha=cfg.length_alpha)
    seconds = time.perf_counter() - t0
    sentences = [vocab.decode(d.ids) for d in decoded]
    return {**language_metrics(sentences, split.refs, meteor=meteor),
            **fact_accuracy(sentences, split.seeds, cfg.data.duration_s),
            "decode_ms_per_video": round(1000 * seconds / max(1, split.n_videos), 2),
            "mean_words": round(float(np.mean([len(d.ids) for d in decoded])), 2),
            "examples": [{"seed": s, "caption": t} for s, t in
                         zip(split.seeds[:3], sentences[:3], strict=False)]}


def _step_loss(model: Captioner, recon: Reconstructor | None, feats: Tensor, mask: Tensor,
               tokens: Tensor, weight: float) -> dict[str, Tensor]:
    tokens = tokens[:, : int((tokens != PAD).sum(1).max())]
    words, targets = tokens[:, :-1], tokens[:, 1:]
    logits, hidden = model(feats, mask, words)
    ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD)
    out = {"loss": ce, "ce": ce}
    if recon is not None and weight > 0:
        rec = recon.loss(hidden, (targets != PAD).float(), model.standardise(feats), mask)
        out["loss"] = ce + weight * rec
        out["recon"] = rec
    return out


def _standardisation(model: Captioner, feats: Tensor) -> None:
    flat = feats.flatten(0, 1)
    model.feat_mean.copy_(flat.mean(0))
    model.feat_std.copy_(flat.std(0).clamp(min=1e-2))


def train_captioner(cfg: CaptionerTrainConfig, out_dir: str | Path, *,
                    progress: bool = True) -> dict[str, Any]:
    """Train, evaluate on the test split, write OUT/captioner.pt and captioner_summary.json."""
    set_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    out = Path(out_dir)
    timings: dict[str, float] = {}
    t0, c0 = time.monotonic(), time.process_time()
    train, val = (load_caption_split(cfg.data, s, progress) for s in ("train", "val"))
    timings["features"] = time.monotonic() - t0
    vocab = build_vocabulary((c for refs in train.refs for c in refs), cfg.min_word_count)
    mcfg = cfg.model.model_copy(update={"feature_dim": int(train.feats.shape[-1]),
                                        "vocab_size": len(vocab)})
    model, recon = Captioner(mcfg), build_reconstructor(mcfg)
    _standardisation(model, train.feats)
    stored = StoredCaptioner(load_frame_encoder(cfg.data.frame_encoder), model, recon)
    params = [p for n, p in stored.named_parameters() if not n.startswith("frames.")]
    opt = adamw(params, cfg.lr, cfg.weight_decay)
    per = cfg.data.captions_per_video
    tokens = pad_captions(vocab, [c for refs in train.refs for c in refs])
    state, log = RunState(), MetricsLog(metrics_path(out / "captioner.pt"), cfg.kind)
    total = (cfg.ce_epochs + cfg.joint_epochs) * cfg.steps_per_epoch
    t1 = time.monotonic()
    for epoch in range(cfg.ce_epochs + cfg.joint_epochs):
        joint = epoch >= cfg.ce_epochs
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        sums: dict[str, float] = {}
        for _ in tqdm(range(cfg.steps_per_epoch), desc=f"captioner {epoch + 1}",
                      disable=not progress, leave=False):
            set_lr(opt, lr_at(state.step, total, cfg.lr, cfg.warmup_steps))
            vids = torch.randperm(train.n_videos, generator=gen)[: cfg.batch_size]
            rows = vids * per + torch.randint(per, (len(vids),), generator=gen)
            vals = _step_loss(model, recon if joint else None, train.feats[vids],
                              train.mask[vids], tokens[rows], cfg.recon_weight)
            opt.zero_grad(set_to_none=True)
            vals["loss"].backward()
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            state.step += 1
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
        state.epoch = epoch + 1
        metrics = evaluate(model, vocab, val, "greedy", cfg)
        record = {"epoch": state.epoch, "step": state.step, "stage": "joint" if joint else "ce",
                  **{k: v / cfg.steps_per_epoch for k, v in sums.items()},
                  **{k: v for k, v in metrics.items() if k != "examples"}}
        state.history.append(record)
        log.write(record)
    timings["training"] = time.monotonic() - t1
    state.stop_reason = "max_epochs"
    config = {**cfg.model_dump(mode="json"), "model": mcfg.model_dump(mode="json"),
              "semantic": stored.frames.cfg.model_dump(mode="json"),
              "vocabulary": list(vocab.words)}
    write_checkpoint(out / "captioner.pt", "captioner", stored, opt, config,
                     f"{train.data_version}+{val.data_version}", state, cfg.model_version)
    release_checkpoint(out / "captioner.pt")  # what ships carries no optimizer state
    cpu_training = time.process_time() - c0
    t2 = time.monotonic()
    test = load_caption_split(cfg.data, "test", progress)
    final = {how: evaluate(model, vocab, test, how, cfg, meteor=True)
             for how in ("greedy", "beam")}
    timings["test_evaluation"] = time.monotonic() - t2
    return write_release_summary(
        out / "captioner_summary.json", timings, final,
        recipe=f"captioner ({mcfg.pooling} pooling, {mcfg.reconstructor} reconstructor, "
               f"lambda {cfg.recon_weight}) on the frozen semantic frame features of "
               f"{cfg.data.frame_encoder}",
        test_split={"seeds": [test.seeds[0], test.seeds[-1] + 1], "videos": test.n_videos,
                    "references_per_video": per, "data_version": test.data_version},
        cpu_seconds_until_checkpoint=round(cpu_training, 1), vocabulary_size=len(vocab),
        config=cfg.model_dump(mode="json"))


def load_captioner(path: str | Path | Checkpoint) -> tuple[StoredCaptioner, Vocabulary]:
    """A captioner checkpoint -> (frame encoder + captioner + reconstructor, vocabulary)."""
    ck = path if isinstance(path, Checkpoint) else load_checkpoint(path)
    if ck.kind != "captioner":
        raise ValueError(f"expected a captioner checkpoint, got {ck.kind}")
    mcfg = CaptionerConfig.model_validate(ck.config["model"])
    stored = StoredCaptioner(SemanticEncoder(SemanticConfig.model_validate(ck.config["semantic"])),
                             Captioner(mcfg), build_reconstructor(mcfg))
    stored.load_state_dict(ck.state_dict, strict=True)
    return stored.eval(), Vocabulary(tuple(ck.config["vocabulary"]))


def reference_caption_scores(split: CaptionSplit, cfg: CaptionerTrainConfig) -> dict[str, Any]:
    """The ceiling the wording allows: one more TRAIN-wording caption of each video (not
    among its references) scored like a generated one."""
    n = cfg.data.captions_per_video
    extra = [captions_for(s, cfg.data.duration_s, n + 1)[n] for s in split.seeds]
    return {**language_metrics(extra, split.refs, meteor=True),
            **fact_accuracy(extra, split.seeds, cfg.data.duration_s)}


def evaluate_checkpoint(path: str | Path, decodings: Sequence[str] = ("greedy", "beam"),
                        *, progress: bool = True, **overrides: Any) -> dict[str, Any]:
    """`vidsearch eval captions`: a captioner checkpoint on its data config's test split
    (cached features; rendered and encoded if absent). ``overrides``: config fields
    (beam, length_alpha, max_words) or ``n_test``."""
    ck = load_checkpoint(path)
    stored, vocab = load_captioner(ck)
    fields = {k: v for k, v in ck.config.items() if k in CaptionerTrainConfig.model_fields}
    cfg = CaptionerTrainConfig.model_validate(fields)
    if "n_test" in overrides:
        cfg.data = cfg.data.model_copy(update={"n_test": overrides.pop("n_test")})
    cfg = cfg.model_copy(update=overrides)
    test = load_caption_split(cfg.data, "test", progress)
    return {"checkpoint": str(path), "test_videos": test.n_videos, "beam_width": cfg.beam,
            "references_per_video": cfg.data.captions_per_video,
            "reference_caption": reference_caption_scores(test, cfg),
            **{how: evaluate(stored.captioner, vocab, test, "beam" if how == "beam" else
                             "greedy", cfg, meteor=True) for how in decodings}}


def caption_sentences(model: Captioner, vocab: Vocabulary, feats: Tensor,
                      how: Decoding = "beam", **options: Any) -> Sequence[str]:
    """Sentences for frame features [V,T,F] (every frame real)."""
    return [vocab.decode(d.ids) for d in decode(model, feats, torch.ones(feats.shape[:2]),
                                                how, **options)]
