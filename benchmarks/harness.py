"""What the benchmarks share: timing, tables, the models served and the real server on loopback."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from vidsearch.evaluation.report import md_table

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


def encoder(container: Any, fps: float, width: int, height: int, crf: int) -> Any:
    stream = container.add_stream(
        "libx264",
        rate=Fraction(fps).limit_denominator(1001),
        options={"preset": "veryfast", "crf": str(crf)},
    )
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    return stream


def write_reference(
    path: Path, seed: int, duration_s: float, *, fps: float, width: int, height: int,
    render_scale: int = 1, crf: int = 23,
) -> Path:  # fmt: skip
    """A seeded synthetic video as H.264 MP4, written frame by frame (atomically).

    The content is rendered at 1/``render_scale`` and upscaled (bicubic): rendering natively at
    360p costs ~90 ms a frame on 2 cores, while the upscaled frames still move every frame, so
    decoding them costs what real 360p H.264 costs.
    """
    import av

    from vidsearch.media.synthetic import render_video

    if width % 2 or height % 2:
        raise ValueError(f"H.264 yuv420p needs even dimensions, got {width}x{height}")
    scale = max(1, render_scale)
    frames = render_video(
        seed, duration_s, fps, max(2, round(width / scale)), max(2, round(height / scale))
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with av.open(str(tmp), mode="w", format="mp4") as container:
        stream = encoder(container, fps, width, height, crf)
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                width=width, height=height, format="yuv420p", interpolation="BICUBIC"
            )
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    tmp.replace(path)
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
