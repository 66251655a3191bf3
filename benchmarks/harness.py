"""What the benchmarks share: timing, tables, the models served and the real server on loopback."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from vidsearch.evaluation.report import md_table, percentile

T = TypeVar("T")
U = TypeVar("U")
Log = Callable[[str], None]


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


def interleaved(
    i: int, first: Callable[[], T], second: Callable[[], U]
) -> tuple[tuple[T, float, float], tuple[U, float, float]]:
    """Both ``timed``, ``first`` first when ``i`` is odd: alternating, neither always finds
    the warmer cache."""
    if i % 2:
        a = timed(first)
        return a, timed(second)
    b = timed(second)
    return timed(first), b


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

    @staticmethod
    def of_timed(runs: Sequence[tuple[object, float, float]]) -> Latency:
        """Of ``timed`` results (result, wall s, CPU s)."""
        return Latency.of([r[1] for r in runs], [r[2] for r in runs])


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


class ServedBenchConfig(SectionConfig):
    """Options of the sections that index generated references into the real server."""

    checkpoints: Path = Path("models/starter")
    """folder with video_hash.pt + barlow.pt (else: the toy family)"""
    repository: Path | None = None
    """serve this exported repository instead"""
    references: int = 2
    """videos indexed"""
    ref_duration_s: float = 3.0
    """seconds per reference"""
    width: int = 160
    height: int = 120
    fps: float = 8.0

    def media_key(self, seed: int, render_scale: int) -> str:
        """What a generated file's name says of the settings it was made with."""
        return f"{self.width}x{self.height}-{self.fps:g}fps-s{render_scale}-seed{seed}"


def write_references(
    cfg: ServedBenchConfig, media: Path, log: Log, *, seed: int, render_scale: int = 1
) -> tuple[list[tuple[str, Path]], int]:
    """((id, file) of each reference, files written now): a file already in ``media`` is
    reused, its name holding every setting it was made with."""
    key = cfg.media_key(seed, render_scale)
    refs, generated = [], 0
    for i in range(cfg.references):
        vid, path = f"ref{i:04d}", media / f"ref{i:04d}-{cfg.ref_duration_s:g}s-{key}.mp4"
        if not path.is_file():
            write_reference(path, seed * 100_003 + i, cfg.ref_duration_s, fps=cfg.fps,
                            width=cfg.width, height=cfg.height, render_scale=render_scale)
            generated += 1
            if generated == 1 or (i + 1) % 10 == 0:
                log(f"[bench] reference {i + 1}/{cfg.references} written")
        refs.append((vid, path))
    return refs, generated


def export_checkpoints(
    paths: list[Path], folder: Path, repository: Path | None, seed: int, out: Path, log: Log,
    toy_effect: str,
) -> tuple[Path, str, bool]:  # fmt: skip
    """(repository to serve, where its models came from, toy?): an exported ``repository`` as
    is, else ``paths`` (checkpoints in ``folder``) exported into ``out`` when all are there,
    else the toy family, tiny stand-in networks (the sections say so: ``toy_effect``)."""
    from vidsearch.exporters.families import family_for_kind, get_family
    from vidsearch.exporters.pipeline import export_models

    if repository is not None:
        return repository, f"exported repository `{repository}` (as is)", False
    if toy := not paths or not all(p.is_file() for p in paths):
        missing = ", ".join(p.name for p in paths if not p.is_file()) or "checkpoints"
        source = f"**`toy` family** (no {missing} in `{folder}`): tiny stand-in networks, "
        source += toy_effect
        loaded = [get_family("toy").loader(None, seed)]
    else:
        from vidsearch.training.checkpoint import load_checkpoint

        names = ", ".join(p.name for p in paths)
        source = f"checkpoints in `{folder}` ({names}), exported by `export_models`"
        loaded = [family_for_kind(load_checkpoint(p).kind).loader(p, seed) for p in paths]
    log(f"[bench] exporting {source}")
    export_models(loaded, out)
    return out, source, toy


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


@dataclass(frozen=True)
class IndexSample:
    video_id: str
    duration_s: float
    bytes: int
    wall_s: float
    cpu_s: float  # process CPU (client + server threads) during the call

    @property
    def rate(self) -> float:
        return self.duration_s / self.wall_s if self.wall_s > 0 else float("nan")


@dataclass
class Server:
    """How a section's server was set up, and its references' indexing (one call each)."""

    target: str = ""
    source: str = ""  # where its models came from, for the section's text
    toy: bool = False  # the toy family: cheaper inference, meaningless hits
    export_s: float = 0.0
    start_s: float = 0.0
    index: list[IndexSample] = field(default_factory=list)


@contextmanager
def served(
    cfg: ServedBenchConfig, seed: int, refs: list[tuple[str, Path]], root: Path, server: Server,
    log: Log, tune: Callable[[Any], object] = lambda config: None,
) -> Iterator[tuple[Any, Any]]:  # fmt: skip
    """(SDK client, config) of the real server on loopback serving the models of ``cfg``
    (``tune`` may change its config first), with ``refs`` indexed one after the other;
    ``server`` records how."""
    from vidsearch_client import VideoSearchClient

    starter = [cfg.checkpoints / "video_hash.pt", cfg.checkpoints / "barlow.pt"]
    (repository, server.source, server.toy), server.export_s, _ = timed(
        export_checkpoints, starter, cfg.checkpoints, cfg.repository, seed,
        root / "model_repository", log, "so inference is cheaper and hits are meaningless",
    )  # fmt: skip
    config = loopback_config(repository, root)
    tune(config)
    started = time.perf_counter()
    with serving(config) as target, VideoSearchClient(target, timeout=600.0) as client:
        server.start_s, server.target = time.perf_counter() - started, target
        log(f"[bench] serving on {target} ({server.start_s:.1f} s)")
        for vid, path in refs:
            _, wall, cpu = timed(client.index_file, path, vid)
            server.index.append(
                IndexSample(vid, cfg.ref_duration_s, path.stat().st_size, wall, cpu)
            )
        yield client, config
