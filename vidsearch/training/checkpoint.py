"""Checkpoint format shared by the trainers and the exporters.

A checkpoint is a dict saved with ``torch.save`` (tensors + plain Python only, so
``torch.load(weights_only=True)`` reads it):

    {"kind": "video_hash" | "barlow" | ..., "model_version": int, "config": dict,
     "data_version": str, "metrics": dict, "state_dict": ..., "optimizer": ... | None,
     "epoch": int, "step": int, "created_at": ISO-8601 str}

``config`` is the whole stage config; its ``model`` section rebuilds the network with
``build_video_hash_model`` / ``build_video_embedder``. Writes are atomic (temp file in
the same directory + ``os.replace``) so a reader never sees a half-written file.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from vidsearch.networks.barlow import VideoEmbedder, build_video_embedder
from vidsearch.networks.semantic import SemanticConfig, SemanticEncoder
from vidsearch.networks.video_hash import VideoHashModel, build_video_hash_model

Kind = Literal["video_hash", "barlow", "text_video", "semantic", "tags", "captioner"]
KINDS: tuple[str, ...] = ("video_hash", "barlow", "text_video", "semantic", "tags", "captioner")


@dataclass
class Checkpoint:
    """A loaded checkpoint; ``build_model()`` returns the module with weights loaded."""

    kind: Kind
    model_version: int
    config: dict[str, Any]
    data_version: str
    metrics: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None = None
    epoch: int = 0
    step: int = 0
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "model_version": self.model_version, "config": self.config,
            "data_version": self.data_version, "metrics": self.metrics,
            "state_dict": self.state_dict, "optimizer": self.optimizer,
            "epoch": self.epoch, "step": self.step, "created_at": self.created_at,
        }

    def build_model(self) -> nn.Module:
        """Rebuild the network from ``config`` and load ``state_dict`` strictly (eval mode)."""
        if self.kind == "text_video":
            from vidsearch.training.text_video import load_text_video

            return load_text_video(self)
        if self.kind == "tags":
            from vidsearch.training.tag_training import load_tag_model

            return load_tag_model(self)
        if self.kind == "captioner":
            from vidsearch.training.captioner import load_captioner

            return load_captioner(self)[0]
        model: VideoHashModel | VideoEmbedder | SemanticEncoder
        if self.kind == "semantic":
            model = SemanticEncoder(SemanticConfig.model_validate(self.config["model"]))
        elif self.kind == "video_hash":
            model = build_video_hash_model(self.config)
        else:
            model = build_video_embedder(self.config)
        model.load_state_dict(self.state_dict, strict=True)
        return model.eval()


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> Path:
    """Atomically write ``ckpt`` to ``path`` (tmp + rename in the same directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(ckpt.to_dict(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint`` (weights_only: no code runs)."""
    obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(obj, dict) or obj.get("kind") not in KINDS:
        raise ValueError(f"{path}: not a vidsearch checkpoint")
    missing = {"model_version", "config", "state_dict"} - obj.keys()
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {sorted(missing)}")
    return Checkpoint(
        kind=obj["kind"], model_version=int(obj["model_version"]), config=dict(obj["config"]),
        data_version=str(obj.get("data_version", "")), metrics=dict(obj.get("metrics") or {}),
        state_dict=obj["state_dict"], optimizer=obj.get("optimizer"),
        epoch=int(obj.get("epoch", 0)), step=int(obj.get("step", 0)),
        created_at=str(obj.get("created_at", "")),
    )


def final_metrics(path: str | Path) -> dict[str, Any]:
    """A checkpoint's last-epoch metrics without the per-epoch history (recipe summaries)."""
    return {k: v for k, v in load_checkpoint(path).metrics.items() if k != "history"}


def release_checkpoint(path: str | Path) -> Path:
    """Drop the optimizer state in place: a finished model ships at a third of the size
    (it can no longer be resumed, only fine-tuned from, which is what a release is for)."""
    ckpt = load_checkpoint(path)
    if ckpt.optimizer is None:
        return Path(path)
    ckpt.optimizer = None
    return save_checkpoint(path, ckpt)
