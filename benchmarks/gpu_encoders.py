"""GPU throughput of the served frame encoders, for a lent GPU machine (`scripts/gpu_release.sh`).

Runs under that machine's own Python (torch with CUDA, none of the serving stack), so it
imports only torch and the networks and writes JSON, copied by hand into BENCHMARKS.md.
Per encoder and batch size: PyTorch eager fp32 and bf16 autocast, each request timed with
CUDA events from the uint8 frames in pinned host memory to the features back on the host
(what a served request pays), p50 over the timed requests, frames/s = batch / p50. ONNX
Runtime's CUDA and TensorRT providers are timed when that machine's onnxruntime has them;
otherwise the JSON says so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidsearch.networks.semantic import SemanticEncoder
from vidsearch.training.checkpoint import load_checkpoint
from vidsearch.training.semantic import load_frame_encoder


class _FramesAsClip(nn.Module):
    """Semantic encoder over one video's key frames: uint8 [N,S,S,3] -> [N,F]."""

    def __init__(self, encoder: SemanticEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encoder(frames.unsqueeze(0))[0]


def encoders(checkpoints: Path) -> dict[str, tuple[nn.Module, int]]:
    """Served frame encoders: name -> (module taking uint8 [N,S,S,3], S)."""
    copy: Any = load_checkpoint(checkpoints / "video_hash.pt").build_model().encoder
    semantic = load_frame_encoder(checkpoints / "text_video.pt")
    return {"frame_encoder (copy descriptor)": (copy, int(copy.input_size)),
            "semantic frame encoder (text, tags, captions)":
                (_FramesAsClip(semantic), semantic.input_size)}


def _time_torch(module: nn.Module, batch: int, size: int, bf16: bool, iters: int,
                warmup: int) -> list[float]:
    frames = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8).pin_memory()
    times = []
    with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=bf16):
        for i in range(warmup + iters):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            module(frames.to("cuda", non_blocking=True)).float().cpu()
            end.record()
            torch.cuda.synchronize()
            if i >= warmup:
                times.append(start.elapsed_time(end))
    return times


def _onnx_sessions(module: nn.Module, size: int) -> tuple[dict[str, Any], str]:
    """ONNX Runtime sessions on the GPU providers this onnxruntime has, and a note."""
    try:
        import onnxruntime as ort
    except ImportError:
        return {}, "onnxruntime is not installed"
    have = ort.get_available_providers()
    wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in have]
    if not wanted:
        return {}, f"this onnxruntime has no GPU provider (providers: {', '.join(have)})"
    path = Path(tempfile.mkdtemp()) / "encoder.onnx"
    sample = torch.randint(0, 256, (2, size, size, 3), dtype=torch.uint8)
    torch.onnx.export(module.cpu(), (sample,), path, input_names=["frames"],
                      output_names=["features"], dynamic_axes={"frames": {0: "n"}},
                      opset_version=17, dynamo=False)
    module.cuda()
    return {p: ort.InferenceSession(str(path), providers=[p]) for p in wanted}, "ok"


def _time_onnx(session: Any, batch: int, size: int, iters: int, warmup: int) -> list[float]:
    frames = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8).numpy()
    times = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        session.run(None, {"frames": frames})
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    return times


def run(checkpoints: Path, batches: list[int], iters: int, warmup: int) -> dict[str, Any]:
    out: dict[str, Any] = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                           "iters": iters, "warmup": warmup, "rows": [], "onnxruntime": {}}
    for name, (module, size) in encoders(checkpoints).items():
        module = module.eval().cuda()
        variants: list[tuple[str, Any]] = [("pytorch fp32", False), ("pytorch bf16", True)]
        sessions, note = _onnx_sessions(module, size)
        out["onnxruntime"][name] = note
        variants += [(f"onnxruntime {p}", s) for p, s in sessions.items()]
        for variant, arg in variants:
            for b in batches:
                if variant.startswith("pytorch"):
                    ms = _time_torch(module, b, size, bool(arg), iters, warmup)
                else:
                    ms = _time_onnx(arg, b, size, iters, warmup)
                p50 = statistics.median(ms)
                out["rows"].append({"encoder": name, "variant": variant, "batch": b,
                                    "input": f"uint8[{b},{size},{size},3]",
                                    "p50_ms": round(p50, 3),
                                    "p95_ms": round(sorted(ms)[int(0.95 * (len(ms) - 1))], 3),
                                    "frames_per_s": round(b / p50 * 1000, 1)})
                print(json.dumps(out["rows"][-1]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoints", type=Path, default=Path("models/starter"))
    ap.add_argument("--batches", default="1,8,32,64,128,256")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    result = run(args.checkpoints, [int(b) for b in args.batches.split(",")], args.iters,
                 args.warmup)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
