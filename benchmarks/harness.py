"""What the benchmarks share: timing, tables, the models served and the real server on loopback."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from vidsearch.evaluation.report import md_table, percentile

T = TypeVar("T")
Log = Callable[[str], None]
STARTER_CHECKPOINTS = ("video_hash.pt", "barlow.pt")


class SectionConfig(BaseModel):
    """A section's options: field docstrings are the CLI help, the values its command line."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float, float]:
    """(result, wall seconds, process CPU seconds across all threads)."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def table(columns: Mapping[str, Callable[[T], object]], items: Iterable[T]) -> str:
    """``md_table`` with each column's header next to the cell it shows, plus a blank line."""
    return md_table(list(columns), [[cell(x) for cell in columns.values()] for x in items]) + "\n"


@dataclass(frozen=True)
class Latency:
    """Milliseconds: p50/p95 of wall time, p50 of process CPU time (all threads) if measured."""

    p50_ms: float
    p95_ms: float
    cpu_p50_ms: float | None = None

    @staticmethod
    def of(wall_s: list[float], cpu_s: list[float] | None = None) -> Latency:
        ms = [s * 1e3 for s in wall_s]
        cpu = percentile([c * 1e3 for c in cpu_s], 50) if cpu_s else None
        return Latency(percentile(ms, 50), percentile(ms, 95), cpu)


def encode_video(
    path: Path, frames: Iterable[np.ndarray], *, fps: float, width: int, height: int, crf: int
) -> int:
    """RGB frames as H.264 MP4 at ``width`` x ``height`` (bicubic), written atomically;
    returns the number of frames."""
    import av

    if width % 2 or height % 2:
        raise ValueError(f"H.264 yuv420p needs even dimensions, got {width}x{height}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    written = 0
    with av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream(
            "libx264", rate=Fraction(fps).limit_denominator(1001),
            options={"preset": "veryfast", "crf": str(crf)},
        )  # fmt: skip
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                width=width, height=height, format="yuv420p", interpolation="BICUBIC"
            )
            container.mux(stream.encode(frame))
            written += 1
        if written == 0:
            raise ValueError(f"no frame to write to {path}")
        container.mux(stream.encode(None))
    tmp.replace(path)
    return written


def write_reference(
    path: Path, seed: int, duration_s: float, *, fps: float, width: int, height: int,
    render_scale: int = 1, crf: int = 23,
) -> Path:  # fmt: skip
    """A seeded synthetic video as H.264 MP4, rendered at 1/``render_scale`` and upscaled.

    Rendering natively at 360p costs ~90 ms a frame on 2 cores, while the upscaled frames
    still move every frame, so decoding them costs what real 360p H.264 costs.
    """
    from vidsearch.media.synthetic import render_video

    scale = max(1, render_scale)
    size = max(2, round(width / scale)), max(2, round(height / scale))
    frames = render_video(seed, duration_s, fps, *size)
    encode_video(path, frames, fps=fps, width=width, height=height, crf=crf)
    return path


def prepare_repository(
    checkpoints: Path, repository: Path | None, seed: int, root: Path, log: Log
) -> tuple[Path, str, bool]:
    """(repository to serve, where its models came from, toy?): the starter release exported
    into ``root``, an exported ``repository`` as is, or the toy family when the starter
    checkpoints are missing (cheaper inference, meaningless hits: the sections say so)."""
    if repository is not None:
        return repository, f"exported repository `{repository}` (as is)", False
    out = root / "model_repository"
    paths = [checkpoints / name for name in STARTER_CHECKPOINTS]
    if all(p.is_file() for p in paths):
        from vidsearch.evaluation.systems import export_release

        names = " + ".join(p.name for p in paths)
        source = f"starter checkpoints `{checkpoints}` ({names}), exported by `export_release`"
        log(f"[serve] exporting {source}")
        export_release(paths, out)
        return out, source, False
    from vidsearch.exporters.families import get_family
    from vidsearch.exporters.pipeline import export_models

    missing = ", ".join(p.name for p in paths if not p.is_file())
    source = (
        f"**`toy` family** (no {missing} in `{checkpoints}`): tiny stand-in networks, "
        f"so inference is cheaper and hits are meaningless"
    )
    log("[serve] exporting the toy family (starter checkpoints missing)")
    export_models([get_family("toy").loader(None, seed)], out)
    return out, source, True


def loopback_config(repository: Path, root: Path) -> Any:
    """The embedded default (ONNX Runtime, Qdrant Edge under ``root``) on free loopback ports."""
    from vidsearch.config import VidsearchConfig

    config = VidsearchConfig()
    config.inference.backend = "onnxruntime"
    config.inference.model_repository = repository
    config.catalog.backend = "qdrant_edge"
    config.catalog.path = root / "catalog"
    config.server.host = "127.0.0.1"
    config.server.port = config.server.metrics_port = 0
    config.server.upload_dir = root / "uploads"
    return config


@contextmanager
def serving(config: Any) -> Iterator[str]:
    """The real gRPC server (``build_server``) in this process; yields its target."""
    from vidsearch.orchestrator.factory import build_orchestrator
    from vidsearch.service.server import build_server

    orchestrator = build_orchestrator(config)
    running = None
    try:
        running = build_server(config, orchestrator)
        yield running.target
    finally:
        if running is not None:
            running.stop(grace=1.0)
        orchestrator.close()
