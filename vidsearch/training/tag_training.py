"""`vidsearch train tags`: the tag networks of seed 004, triplet loss with mining rounds.

Frozen: the semantic frame encoder and MiniLM (their features are cached by
``training.tag_data``). Trained: the video network (frame, sound and title branches,
fusion) and, unless ``tag_projection_lr_scale`` is 0 (the starter), the tag encoder's
projection. Each round re-embeds the whole training
library and every training video with the current model, mines one negative per
(video, positive tag) anchor (``tag_mining.mine_round``: delta, margin, distance and the
variant come from the config), logs the share of triplets already at zero loss, then
trains one pass over the mined triplets (TSN: one random frame per segment; modality
dropout so that each branch also works alone). Positives are the ground-truth labels;
only ``train`` tags are positives or negatives: hot tags and distractors never train.

The checkpoint (kind ``tags``) holds the frame encoder, the video network and the tag
projection, not MiniLM (pinned to its package files, like ``text_video``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn
from tqdm import tqdm

from vidsearch.contract.tag_scoring import scene_aware_similarity
from vidsearch.networks.semantic import SemanticConfig, SemanticEncoder
from vidsearch.networks.tag_video import (
    MODALITIES,
    TagEncoder,
    TagVideoConfig,
    TagVideoNetwork,
    VideoTagEncoder,
    build_tag_encoder,
    tsn_indices,
)
from vidsearch.networks.text_encoder import TEXT_DIM
from vidsearch.training.checkpoint import Checkpoint, load_checkpoint
from vidsearch.training.common import (
    TEXT_MODEL,
    MetricsLog,
    RunState,
    adamw,
    feature_cache_file,
    lr_at,
    metrics_path,
    set_lr,
    set_threads,
    write_checkpoint,
    write_release_summary,
)
from vidsearch.training.semantic import load_frame_encoder
from vidsearch.training.tag_data import (
    TagDataConfig,
    TagSet,
    TitleEncoder,
    load_split,
)
from vidsearch.training.tag_metrics import ranking_metrics, top_k_share
from vidsearch.training.tag_mining import (
    Distance,
    TagMiningConfig,
    listwise_loss,
    mine_round,
    pairwise_distance,
    triplet_loss,
)
from vidsearch.training.tags import VOCABULARY


class TagTrainConfig(BaseModel):
    """configs/training/tags_starter.yaml."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tags"] = "tags"
    data: TagDataConfig = TagDataConfig()
    model: TagVideoConfig = TagVideoConfig()
    mining: TagMiningConfig = TagMiningConfig()
    segments: int = Field(default=8, ge=1, description="TSN segments O (frames per video)")
    rounds: int = Field(default=12, ge=1, description="mining rounds (re-embed, mine, train)")
    positives_per_video: int = Field(default=8, ge=1, description="anchors per video a round")
    batch_size: int = Field(default=128, ge=2)
    lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    warmup_steps: int = Field(default=20, ge=0)
    identity_tag_projection: bool = Field(
        default=False,
        description="start the tag projection as the identity (needs model.dim = 384): the "
                    "tag space starts as MiniLM's, so tags never trained on (hot) keep their "
                    "MiniLM neighbours")
    tag_projection_lr_scale: float = Field(
        default=1.0, ge=0,
        description="the tag projection's learning rate / lr (0: frozen, the tag space stays "
                    "where the projection starts)")
    listwise_weight: float = Field(
        default=0.0, ge=0,
        description="weight of the listwise term (every true tag of the anchor video against "
                    "every false one of the training library) added to the triplet loss; "
                    "0: the seed's triplet loss alone")
    listwise_temperature: float = Field(default=0.1, gt=0,
                                        description="cosine temperature of the listwise term")
    scene_weight: float = Field(
        default=0.0, ge=0,
        description="the listwise term ranks tags by the scene-aware similarity served with "
                    "tags.scene_weight = this (video + w * best scene); 0: the video alone")
    modality_dropout: float = Field(
        default=0.2, ge=0, lt=1,
        description="drop each present modality of a training video with this probability "
                    "(one always stays): every branch must also work alone")
    seed: int = 0
    num_threads: int | None = Field(default=1, ge=1)
    model_version: int = Field(default=1, ge=1)


class TagModel(nn.Module):
    """What a ``tags`` checkpoint holds: frame encoder (frozen), video network, tag projection.

    The tag encoder's MiniLM is not part of it: ``tag_encoder()`` attaches it."""

    def __init__(self, semantic: SemanticEncoder, video: TagVideoNetwork) -> None:
        super().__init__()
        self.semantic = semantic.eval().requires_grad_(False)
        self.video = video
        self.tag_projection = nn.Linear(TEXT_DIM, video.cfg.dim)

    def train(self, mode: bool = True) -> TagModel:
        super().train(mode)
        self.semantic.eval()  # frozen: its features are cached from eval mode
        return self

    def video_tag_encoder(self) -> VideoTagEncoder:
        """Served ``video_tag_encoder`` (raw frames; sound and title served as missing)."""
        return VideoTagEncoder(self.semantic, self.video).eval()

    def tag_encoder(self) -> TagEncoder:
        """Served ``tag_encoder``: the bundled MiniLM with this projection (shared module)."""
        encoder = build_tag_encoder(self.video.cfg.dim)
        encoder.projection = self.tag_projection
        return encoder.eval()


def load_tag_model(path: str | Path | Checkpoint) -> TagModel:
    """A ``tags`` checkpoint -> TagModel (eval mode)."""
    ck = path if isinstance(path, Checkpoint) else load_checkpoint(path)
    if ck.kind != "tags":
        raise ValueError(f"expected a tags checkpoint, got {ck.kind}")
    semantic = SemanticEncoder(SemanticConfig.model_validate(ck.config["semantic"]))
    model = TagModel(semantic, TagVideoNetwork(TagVideoConfig.model_validate(
        ck.config["model"])))
    model.load_state_dict(ck.state_dict, strict=True)
    return model.eval()


@dataclass
class VideoInputs:
    """The video network's inputs for a set of videos (all frames, or TSN-sampled)."""

    frames: Tensor
    frame_mask: Tensor
    mfcc: Tensor
    mfcc_mask: Tensor
    title: Tensor
    title_mask: Tensor

    @classmethod
    def of(cls, data: TagSet) -> VideoInputs:
        return cls(data.frames, data.frame_mask, data.mfcc, data.mfcc_mask, data.title,
                   data.title_mask)

    def rows(self, idx: Tensor) -> VideoInputs:
        return VideoInputs(*(t[idx] for t in self.tensors()))

    def tensors(self) -> tuple[Tensor, ...]:
        return (self.frames, self.frame_mask, self.mfcc, self.mfcc_mask, self.title,
                self.title_mask)

    def only(self, keep: tuple[str, ...]) -> VideoInputs:
        """The same videos with every modality not in ``keep`` missing (masked)."""
        unknown = set(keep) - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; known: {MODALITIES}")
        return replace(self, frame_mask=self.frame_mask * ("frames" in keep),
                       mfcc_mask=self.mfcc_mask * ("audio" in keep),
                       title_mask=self.title_mask * ("title" in keep))

    def tsn(self, segments: int, generator: torch.Generator | None = None,
            windows: int = 1) -> VideoInputs:
        """P×O frames per video (``windows`` P, ``segments`` O): one random frame per
        segment (``generator``) or the centre one."""
        lengths = self.frame_mask.sum(dim=1).long().clamp(min=1).tolist()
        idx = torch.tensor([[i for window in tsn_indices(n, segments, windows, generator)
                             for i in window] for n in lengths])
        frames = self.frames.gather(1, idx[..., None].expand(-1, -1, self.frames.shape[-1]))
        present = self.frame_mask.amax(dim=1, keepdim=True).expand(-1, idx.shape[1])
        return replace(self, frames=frames, frame_mask=present.contiguous())

    def drop_modalities(self, p: float, generator: torch.Generator) -> VideoInputs:
        """Each present modality missing with probability ``p``; at least one stays."""
        present = torch.stack([self.frame_mask.amax(1), self.mfcc_mask.amax(1),
                               self.title_mask], dim=1) > 0  # [B,3]
        drop = (torch.rand(present.shape, generator=generator) < p) & present
        kept = present & ~drop
        lost = ~kept.any(dim=1)  # everything dropped: keep the first present one
        first = present.float().argmax(dim=1)
        kept[lost, first[lost]] = True
        k = kept.float()
        return replace(self, frame_mask=self.frame_mask * k[:, :1],
                       mfcc_mask=self.mfcc_mask * k[:, 1:2], title_mask=self.title_mask * k[:, 2])


@torch.no_grad()
def embed_videos(video: TagVideoNetwork, inputs: VideoInputs, segments: int,
                 batch: int = 256, windows: int = 1) -> Tensor:
    """Tag features [V,D] at inference (TSN centre frames, P = ``windows`` × O)."""
    out = []
    for i in range(0, inputs.frames.shape[0], batch):
        rows = inputs.rows(torch.arange(i, min(i + batch, inputs.frames.shape[0])))
        out.append(video(*rows.tsn(segments, windows=windows).tensors()))
    return torch.cat(out)


def vocabulary_features(cfg: TagDataConfig, titles: TitleEncoder | None = None,
                        rewrite: Callable[[str], str] | None = None) -> Tensor:
    """Frozen MiniLM features [K,384] of every vocabulary tag (``VOCABULARY`` order), cached;
    ``rewrite`` changes a tag's text before it is embedded (the served thesaurus)."""
    texts = [t.text if rewrite is None else rewrite(t.text) for t in VOCABULARY]
    path = feature_cache_file(cfg.cache_dir, "vocabulary", [texts, cfg.max_title_tokens])
    if path.exists():
        feats: Tensor = torch.load(path, weights_only=True)
        return feats
    feats = (titles or TitleEncoder(cfg.max_title_tokens))(texts)[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(feats, path)
    return feats


def truth_matrix(data: TagSet) -> Tensor:
    """bool [V,K]: video v carries vocabulary tag k."""
    column = {t.text: k for k, t in enumerate(VOCABULARY)}
    truth = torch.zeros(data.n_videos, len(VOCABULARY), dtype=torch.bool)
    for v, texts in enumerate(data.tags):
        truth[v, [column[t] for t in texts]] = True
    return truth


def _columns(kind: str) -> Tensor:
    return torch.tensor([t.kind == kind for t in VOCABULARY])


def library_metrics(distances: Tensor, truth: Tensor) -> dict[str, float]:
    """Every tag metric from distances [V,K] to the whole vocabulary and its truth.

    ``seen``: the library of training tags + distractors; ``hot``: hot tags + distractors
    (added after training); ``audible``: training tags the sound alone can tell;
    ``distractor_top5``: videos with a distractor in the first five of the full library."""
    seen, hot, distractor = _columns("train"), _columns("hot"), _columns("distractor")
    audible = torch.tensor([t.kind == "train" and t.audible for t in VOCABULARY])
    out: dict[str, float] = {}
    for name, cols in (("seen", seen | distractor), ("hot", hot | distractor),
                       ("audible", audible)):
        for key, value in ranking_metrics(distances[:, cols], truth[:, cols]).items():
            out[f"{name}_{key}"] = value
    out["distractor_top5"] = top_k_share(distances, distractor)
    return out


@torch.no_grad()
def evaluate_tag_model(model: TagModel, inputs: VideoInputs, truth: Tensor, vocab: Tensor,
                       segments: int, distance: Distance = "cosine",
                       windows: int = 1, scene_weight: float = 0.0) -> dict[str, float]:
    """The model's suggestions for ``inputs`` against the whole vocabulary (``vocab``:
    its MiniLM features). ``scene_weight`` > 0 (cosine only): tags scored as served, by the
    video and its best scene (``contract.tag_scoring``); a video without frames by itself."""
    model.eval()
    videos = embed_videos(model.video, inputs, segments, windows=windows)
    tags = model.tag_projection(vocab)
    if scene_weight == 0:
        return library_metrics(pairwise_distance(videos, tags, distance), truth)
    if distance != "cosine":
        raise ValueError("scene-aware scoring is defined for cosine distance")
    return library_metrics(1.0 - scene_scores(model.video, inputs, videos, tags, scene_weight),
                           truth)


def scene_scores(video: TagVideoNetwork, inputs: VideoInputs, videos: Tensor, tags: Tensor,
                 weight: float) -> Tensor:
    """Similarity [V,K] of each video (feature ``videos`` [V,D] of ``inputs``) to each tag
    [K,D], by the video and its best scene as served; a video without frames by itself."""
    unit = F.normalize(tags, dim=-1)
    video_cos = F.normalize(videos, dim=-1) @ unit.T  # [V,K]
    scenes = F.normalize(video.scene_features(inputs.frames, inputs.frame_mask), dim=-1)
    scene_cos = torch.einsum("vsd,kd->vsk", scenes, unit)
    has_frames = inputs.frame_mask.flatten(1).any(dim=1)[:, None, None]
    scene_cos = torch.where(has_frames, scene_cos, video_cos[:, None, :])
    out: Tensor = scene_aware_similarity(video_cos, scene_cos, weight)
    return out


def _anchors(truth: Tensor, per_video: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Up to ``per_video`` random (video row, positive train-tag column) pairs per video."""
    rows, cols = [], []
    for v in range(truth.shape[0]):
        own = truth[v].nonzero().flatten()
        pick = own[torch.randperm(len(own), generator=gen)[:per_video]]
        rows.append(torch.full_like(pick, v))
        cols.append(pick)
    return torch.cat(rows), torch.cat(cols)


def train_tags(cfg: TagTrainConfig, out: str | Path, *, progress: bool = True,
               train: TagSet | None = None, val: TagSet | None = None
               ) -> tuple[Checkpoint, dict[str, Any]]:
    """Train the tag networks; returns the checkpoint and the last round's val metrics."""
    set_threads(cfg.num_threads)
    out = Path(out)
    t0 = time.monotonic()
    train = train or load_split(cfg.data, "train", progress)
    val = val or load_split(cfg.data, "val", progress)
    vocab = vocabulary_features(cfg.data)
    tqdm.write(f"tag features ready in {time.monotonic() - t0:.1f}s")

    torch.manual_seed(cfg.seed)  # after the data: loading MiniLM draws from the global RNG
    semantic = load_frame_encoder(cfg.data.frame_encoder)
    model_cfg = cfg.model.model_copy(update={"frame_dim": int(train.frames.shape[-1])})
    model = TagModel(semantic, TagVideoNetwork(model_cfg))
    if cfg.identity_tag_projection:
        if model_cfg.dim != TEXT_DIM:
            raise ValueError(f"identity_tag_projection needs model.dim = {TEXT_DIM}")
        nn.init.eye_(model.tag_projection.weight)
        nn.init.zeros_(model.tag_projection.bias)
    opt = adamw(model.video.parameters(), cfg.lr, cfg.weight_decay)
    if cfg.tag_projection_lr_scale > 0:
        opt.add_param_group({"params": list(model.tag_projection.parameters()),
                             "lr_scale": cfg.tag_projection_lr_scale})
    else:
        model.tag_projection.requires_grad_(False)
    train_cols = _columns("train")
    library = vocab[train_cols]  # the training library: hot tags and distractors never train
    truth = truth_matrix(train)[:, train_cols]
    inputs, val_inputs, val_truth = VideoInputs.of(train), VideoInputs.of(val), truth_matrix(val)
    gen = torch.Generator().manual_seed(cfg.seed)
    per_round = -(-min(cfg.positives_per_video, int(truth.sum(1).max())) * train.n_videos
                  // cfg.batch_size)
    total = cfg.rounds * per_round
    state = RunState()
    log = MetricsLog(metrics_path(out), cfg.kind)
    config = {**cfg.model_dump(mode="json"), "model": model_cfg.model_dump(mode="json"),
              "semantic": semantic.cfg.model_dump(mode="json"), "text_model": TEXT_MODEL}
    metrics: dict[str, Any] = {}
    ck: Checkpoint | None = None
    for round_ in range(cfg.rounds):
        t1 = time.monotonic()
        model.eval()
        with torch.no_grad():
            videos = embed_videos(model.video, inputs, cfg.segments)
            tags = model.tag_projection(library)
        rows, positives = _anchors(truth, cfg.positives_per_video, gen)
        mined = mine_round(videos[rows], positives, truth[rows], tags, cfg.mining, gen)
        anchor_rows = rows[mined.anchor]
        model.train()
        order = torch.randperm(len(anchor_rows), generator=gen)
        loss_sum, steps = 0.0, 0
        for i in tqdm(range(0, len(order), cfg.batch_size), desc=f"tags round {round_ + 1}",
                      disable=not progress, leave=False):
            b = order[i:i + cfg.batch_size]
            batch = inputs.rows(anchor_rows[b]).tsn(cfg.segments, gen)
            batch = batch.drop_modalities(cfg.modality_dropout, gen)
            set_lr(opt, lr_at(state.step, total, cfg.lr, cfg.warmup_steps))
            anchor = model.video(*batch.tensors())
            positive = model.tag_projection(library[mined.positive[b]])
            negative = model.tag_projection(library[mined.negative[b]])
            loss = triplet_loss(anchor, positive, negative, cfg.mining.margin,
                                cfg.mining.distance).mean()
            if cfg.listwise_weight > 0:
                lib = model.tag_projection(library)
                sim = (scene_scores(model.video, batch, anchor, lib, cfg.scene_weight)
                       if cfg.scene_weight > 0 else None)
                loss = loss + cfg.listwise_weight * listwise_loss(
                    anchor, lib, truth[anchor_rows[b]], cfg.listwise_temperature, sim).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum, steps, state.step = loss_sum + float(loss.detach()), steps + 1, state.step + 1
        state.epoch = round_ + 1
        metrics = evaluate_tag_model(model, val_inputs, val_truth, vocab, cfg.segments,
                                     cfg.mining.distance)
        record = {"round": state.epoch, "step": state.step, "triplets": len(anchor_rows),
                  "zero_loss_share": mined.zero_loss_share, "unmatched": mined.unmatched,
                  "loss": loss_sum / max(1, steps),
                  "train_seconds": round(time.monotonic() - t1, 2),
                  **{f"val_{k}": v for k, v in metrics.items()}}
        state.history.append(record)
        log.write(record)
        state.stop_reason = "rounds" if state.epoch >= cfg.rounds else None
        ck = write_checkpoint(out, "tags", model, opt, config,
                              f"{train.data_version}+{val.data_version}", state,
                              cfg.model_version)
    assert ck is not None
    return ck, metrics


def run_tag_training(cfg: TagTrainConfig, out_dir: str | Path, *,
                     progress: bool = True) -> dict[str, Any]:
    """Writes OUT/tags.pt (no optimizer state), its metrics log and OUT/tags_summary.json
    (provenance, timings, the last round's validation metrics)."""
    from vidsearch.training.checkpoint import final_metrics, release_checkpoint

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_threads(cfg.num_threads)
    path = out / "tags.pt"
    metrics_path(path).unlink(missing_ok=True)  # a fresh run, a fresh log
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    titles = TitleEncoder(cfg.data.max_title_tokens)
    train = load_split(cfg.data, "train", progress, titles)
    val = load_split(cfg.data, "val", progress, titles)
    timings["data"] = time.monotonic() - t0
    t0 = time.monotonic()
    ck, _ = train_tags(cfg, path, progress=progress, train=train, val=val)
    timings["train"] = time.monotonic() - t0
    release_checkpoint(path)
    return write_release_summary(
        out / "tags_summary.json", timings, final_metrics(path),
        recipe="tag networks (seed 004): frozen semantic frame encoder + MiniLM features, "
               "video network + tag projection by triplet loss with mining rounds",
        data_version=ck.data_version,
        config=training_config(ck).model_dump(mode="json"),  # the network as built
    )


def training_config(ck: Checkpoint) -> TagTrainConfig:
    """The config a ``tags`` checkpoint was trained with (its network as built); fields
    newer than the checkpoint take their defaults."""
    return TagTrainConfig.model_validate({k: ck.config[k] for k in TagTrainConfig.model_fields
                                          if k in ck.config})
