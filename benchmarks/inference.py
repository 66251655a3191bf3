"""Inference latency: the embedded ONNX Runtime backend vs Triton serving the CPU twin over
gRPC, alternated on the same inputs, then ``perf_analyzer`` quoted. Both run onnxruntime with
the same intra-op threads, so the difference is the serving path."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import harness as bench
from vidsearch.contract.models import FRAME_ENCODER, VIDEO_SEARCH_MODELS

_SUMMARY = re.compile(
    r"Concurrency:\s*(\d+),\s*throughput:\s*([\d.]+)\s*infer/sec,\s*latency\s*(\d+)\s*usec"
)


class InferenceBenchConfig(bench.ModelsConfig):
    models: tuple[str, ...] = tuple(m.name for m in VIDEO_SEARCH_MODELS)
    batches: tuple[int, ...] = (1, 16)
    frames: int = 8
    """T of video inputs [B,T,H,W,3]"""
    iterations: int = 3
    """timed calls per model, batch and backend"""
    warmup: int = 1
    threads: int = 1
    """onnxruntime intra-op threads, embedded and in the twin alike"""
    perf_model: str = FRAME_ENCODER.name
    perf_batch: int = 1
    perf_concurrency: tuple[int, ...] = (2,)
    """perf_analyzer concurrency levels ([]: skip perf_analyzer)"""
    perf_window_ms: int = 500


@dataclass(frozen=True)
class ModelRow:
    model: str
    batch: int
    input_shapes: str
    ort: bench.Latency | None
    triton: bench.Latency | None
    outputs_match: bool | None
    ratio: float | None = None  # Triton p50 / ORT p50
    note: str = ""


@dataclass(frozen=True)
class PerfRun:
    concurrency: int
    command: str
    returncode: int
    output: str  # perf_analyzer's summary
    throughput: float | None  # infer/s from the summary line
    latency_ms: float | None


@dataclass
class InferenceBenchResult(bench.SectionResult[InferenceBenchConfig]):
    source: str = ""
    export_s: float = 0.0
    triton_start_s: float = 0.0
    queue_delay_us: dict[str, int] = field(default_factory=dict)
    rows: list[ModelRow] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # asked for but not exported
    perf: list[PerfRun] = field(default_factory=list)
    perf_model: str = ""  # measured by perf_analyzer: cfg.perf_model unless it is not served
    perf_error: str = ""


def frame_dims(signature: Any, spec: Any, frames: int) -> list[int]:
    """An input's dims after the batch, a dynamic T (the first, the only one allowed) as
    ``frames``."""
    dims = [frames if d == -1 and i == 0 else d for i, d in enumerate(spec.shape[1:])]
    if -1 in dims:
        raise ValueError(f"{signature.name}: input {spec.name} {spec.shape}: dynamic dims other "
                         "than T")  # fmt: skip
    return dims


def make_inputs(
    signature: Any, batch: int, frames: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Random inputs for ``signature`` with batch ``batch``; a dynamic T becomes ``frames``."""
    out = {}
    for spec in signature.inputs:
        shape = [batch, *frame_dims(signature, spec, frames)]
        high = 256 if spec.dtype == "uint8" else 100
        x = rng.standard_normal(shape) if spec.dtype.startswith("float") else rng.integers(
            0, high, shape)  # fmt: skip
        out[spec.name] = x.astype(spec.dtype)
    return out


def time_model(
    model: str, batch: int, inputs: dict[str, np.ndarray], ort: Any, triton: Any,
    cfg: InferenceBenchConfig,
) -> ModelRow:  # fmt: skip
    """Interleaved calls (alternating which backend goes first), warm-up excluded; outputs
    compared on the first call."""
    first_ort, first_triton = ort.infer(model, inputs), triton.infer(model, inputs)
    ort_runs, triton_runs = bench.alternate(
        lambda _: ort.infer(model, inputs), lambda _: triton.infer(model, inputs),
        cfg.iterations, cfg.warmup,
    )  # fmt: skip
    shapes = ", ".join(
        f"{name} {a.dtype.name}[{','.join(str(d) for d in a.shape)}]" for name, a in inputs.items()
    )
    match = set(first_ort) == set(first_triton) and all(
        a.shape == first_triton[k].shape and np.allclose(a, first_triton[k], rtol=1e-4, atol=1e-4)
        for k, a in first_ort.items()
    )
    ort_p, triton_p = bench.Latency.of(ort_runs, batch), bench.Latency.of(triton_runs, batch)
    return ModelRow(model, batch, shapes, ort_p, triton_p, match,
                    bench.ratio(triton_p.p50_ms, ort_p.p50_ms))


def perf_analyzer_env(lib_dir: Path) -> dict[str, str]:
    """LD_LIBRARY_PATH with ``libb64.so.0d`` / ``libcudart.so.12`` links to the copies
    bundled (under hashed names) in ``nvidia_pytriton.libs``."""
    import pytriton

    libs = Path(pytriton.__file__).resolve().parent.parent / "nvidia_pytriton.libs"
    lib_dir.mkdir(parents=True, exist_ok=True)
    for wanted, pattern in (("libb64.so.0d", "libb64-*.so.0d"), ("libcudart.so.12", "libcudart-*")):
        found = sorted(libs.glob(pattern))
        if not found:
            raise FileNotFoundError(f"no {pattern} in {libs} (needed by perf_analyzer)")
        if not (link := lib_dir / wanted).exists():
            link.symlink_to(found[0])
    paths = (str(lib_dir), str(libs), os.environ.get("LD_LIBRARY_PATH", ""))
    return os.environ | {"LD_LIBRARY_PATH": os.pathsep.join(p for p in paths if p)}


def summary(output: str) -> str:
    """The last measurement's 'Client:'/'Server:' blocks and the final summary (what follows
    them), blank lines out; without them, the last ten lines."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("Client:")]
    if not starts:
        return "\n".join(lines[-10:])
    return "\n".join(line for line in lines[starts[-1]:]
                     if not line.startswith("Inferences/Second vs."))  # fmt: skip


def run_perf_analyzer(
    grpc_url: str, signature: Any, model: str, cfg: InferenceBenchConfig, root: Path, log: bench.Log
) -> list[PerfRun]:
    binary = Path(sys.prefix) / "bin" / "perf_analyzer"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise FileNotFoundError(f"perf_analyzer not found in {binary.parent}")
    env = perf_analyzer_env(root / "perf_analyzer_libs")
    shape_args = []
    for spec in signature.inputs:
        if -1 in spec.shape[1:]:
            dims = ",".join(str(d) for d in frame_dims(signature, spec, cfg.frames))
            shape_args += ["--shape", f"{spec.name}:{dims}"]
    runs = []
    for concurrency in cfg.perf_concurrency:
        command = [
            str(binary), "-m", model, "-u", grpc_url, "-i", "grpc", "-b", str(cfg.perf_batch),
            "--concurrency-range", str(concurrency),
            "--measurement-interval", str(cfg.perf_window_ms),
            # A shared 2-core box is noisy: accept windows within 50 % of each other
            # rather than fail with "unable to obtain stable measurement".
            "--max-trials", "6", "--stability-percentage", "50", *shape_args,
        ]  # fmt: skip
        shown = shlex.join(["perf_analyzer", *command[1:]])
        log(f"[inference] {shown}")
        timeout = 30 + 8 * cfg.perf_window_ms / 1000
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, timeout=timeout, check=False
            )
            output, code = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired as exc:
            raw = exc.stdout or b""
            output = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            output, code = output + f"\n(perf_analyzer stopped after {timeout:.0f} s)", -1
        found = _SUMMARY.search(output)
        runs.append(PerfRun(
            concurrency, shown, code, summary(output),
            float(found.group(2)) if found else None, int(found.group(3)) / 1e3 if found else None,
        ))  # fmt: skip
    return runs


def run(cfg: InferenceBenchConfig, log: bench.Log = bench.stderr) -> InferenceBenchResult:
    from vidsearch.exporters.cpu_twin import sync_cpu_twin
    from vidsearch.exporters.repository import list_models
    from vidsearch.exporters.triton_config import read_config
    from vidsearch.inference.onnxruntime_backend import CPU, OnnxRuntimeBackend
    from vidsearch.inference.triton_backend import TritonBackend
    from vidsearch.inference.tritonserver import TritonServerProcess

    result = InferenceBenchResult(cfg, perf_model=cfg.perf_model)
    rng = np.random.default_rng(cfg.seed)
    with ExitStack() as stack:
        root = stack.enter_context(bench.scratch("inference", cfg.work_dir))
        production, result.source, _ = bench.export_checkpoints(
            cfg, sorted(cfg.checkpoints.glob("*.pt")), root / "model_repository", log,
            "so the serving overhead dominates",
        )  # fmt: skip
        twin, available = root / "model_repository_cpu", list_models(production)
        models = [m for m in cfg.models if available.get(m)]
        result.missing = [m for m in cfg.models if m not in models]
        sync_cpu_twin(production, twin, models, threads=cfg.threads)
        result.export_s = time.perf_counter() - result.started
        configs = {m: read_config(twin / m / "config.pbtxt") for m in models}
        result.queue_delay_us = {m: c.dynamic_batching.max_queue_delay_microseconds
                                 for m, c in configs.items() if c.dynamic_batching is not None}
        ort = stack.enter_context(closing(OnnxRuntimeBackend(
            production, providers=[CPU], intra_op_threads=cfg.threads)))  # fmt: skip
        server = stack.enter_context(
            TritonServerProcess(twin, work_dir=root / "tritonserver", models=models))
        result.triton_start_s = server.startup_seconds or 0.0
        log(f"[inference] tritonserver ready in {result.triton_start_s:.1f} s ({server.grpc_url})")
        triton = stack.enter_context(closing(TritonBackend(server.grpc_url, timeout=60.0)))
        for m in models:
            limit = configs[m].max_batch_size
            for batch in cfg.batches:
                if limit and batch > limit:
                    note = f"max_batch_size {limit}"
                    result.rows.append(ModelRow(m, batch, "", None, None, None, note=note))
                    continue
                inputs = make_inputs(ort.signature(m), batch, cfg.frames, rng)
                result.rows.append(row := time_model(m, batch, inputs, ort, triton, cfg))
                log(f"[inference] {m} b={batch}: Triton/ORT p50 x{row.ratio:.2f}")
        if cfg.perf_concurrency and models:
            result.perf_model = cfg.perf_model if cfg.perf_model in models else models[0]
            try:
                result.perf = run_perf_analyzer(server.grpc_url, ort.signature(result.perf_model),
                                                result.perf_model, cfg, root, log)  # fmt: skip
            except (OSError, ImportError) as exc:
                result.perf_error = str(exc)
                log(f"[inference] perf_analyzer skipped: {exc}")
    return result.finished()
def to_markdown(result: InferenceBenchResult, command: str) -> str:
    return bench.render(
        "inference", result, command, substituted=result.perf_model != result.config.perf_model,
        missing_names=", ".join(result.missing), delays=", ".join(
            f"{m} {d} µs" for m, d in sorted(result.queue_delay_us.items())) or "none",
    )  # fmt: skip
