"""What the sections share: timing, the renderer of their templates (sections/), generated
references, the models served and the real server on loopback."""

from __future__ import annotations

import itertools
import re
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict

from vidsearch.evaluation.report import MachineInfo, machine_info, percentile, section_header

T = TypeVar("T")
U = TypeVar("U")
Log = Callable[[str], None]
Timed = tuple[T, float, float]  # (result, wall seconds, process CPU seconds of all threads)


class SectionConfig(BaseModel):
    """A section's options: field docstrings are the CLI help, the values its command line."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


C = TypeVar("C", bound=SectionConfig)


@dataclass
class SectionResult(Generic[C]):
    """What every section's result holds: its options, the machine as it started, run time."""

    config: C
    machine: MachineInfo = field(default_factory=machine_info)
    seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter, repr=False)

    def finished(self) -> Self:
        self.seconds = time.perf_counter() - self.started
        return self


TEMPLATES = Path(__file__).with_name("sections")  # NAME.md, the text of section NAME
_IF, _EACH = re.compile(r"\{\?([\w.]+)\}(.*)"), re.compile(r"\{\*([\w.]+)\}(.*)")
_AGGREGATE = re.compile(r"p(\d+)|median|len")


class _Fill(string.Formatter):
    """``str.format`` as the templates use it (sections/README.md): names looked up in
    ``layers`` in turn, None as —, bool words, aggregates of lists."""

    def __init__(self, *layers: object) -> None:
        self.layers, self.missing = layers, False

    def get_field(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        first, *path = name.split(".")
        layer = next((x for x in self.layers if hasattr(x, first)), None)
        if layer is None and not first.isdigit():
            raise KeyError(f"{first}: no such value in this section")
        value = args[int(first)] if first.isdigit() else getattr(layer, first)
        for key in path:
            if value is not None:
                value = value.get(key) if isinstance(value, Mapping) else getattr(value, key)
        return value, first

    def format_field(self, value: Any, spec: str) -> str:
        if isinstance(value, list | tuple) and (how := _AGGREGATE.match(spec)):
            value, spec = _aggregate(value, how[0]), spec[how.end() :]
        if value is None:
            self.missing = True
            return "—"
        if isinstance(value, bool) and "/" in spec:
            return spec.split("/", 1)[not value]
        return format(value, spec)

    def fill(self, line: str, args: Sequence[Any] = ()) -> str:
        """``line`` filled; in a table row, a cell with a missing value is — as a whole."""
        if not line.startswith("|"):
            return self.vformat(line, args, {})
        cells = []
        for cell in line.split("|")[1:-1]:
            self.missing = False
            text = self.vformat(cell, args, {})
            cells.append(" — " if self.missing else text)
        return "|".join(["", *cells, ""])


def _aggregate(values: Sequence[float], how: str) -> float:
    if how == "len" or not values:
        return len(values) if how == "len" else float("nan")
    return statistics.median(values) if how == "median" else percentile(values, int(how[1:]))


def expand(template: str, *layers: object) -> str:
    """``template`` filled from ``layers``, with its ``{?name}`` and ``{*name}`` lines."""
    values, kept = _Fill(*layers), []
    for line in template.splitlines():
        if when := _IF.fullmatch(line):
            if not values.get_field(when[1], (), {})[0]:
                continue
            line = when[2]
        each = _EACH.fullmatch(line)
        kept.append((each[1], each[2]) if each else ("", line))
    out = []
    for name, block in itertools.groupby(kept, key=lambda kept_line: kept_line[0]):
        lines = [line for _, line in block]
        if not name:
            out += [values.fill(line) for line in lines]
        for item in values.get_field(name, (), {})[0] if name else ():
            tuple_ = isinstance(item, tuple)  # its fields are {0}, {1}, ...
            row = _Fill(*layers) if tuple_ else _Fill(item, *layers)
            out += [row.fill(line, item if tuple_ else ()) for line in lines]
    return "\n".join(out)


def render(name: str, result: SectionResult[Any], command: str, **values: object) -> str:
    """Section ``name``: the title of ``sections/NAME.md``, the header (``command``, date,
    machine), the rest of it filled from ``values``, the result and ``cfg``, the run time."""
    title, body = (TEMPLATES / f"{name}.md").read_text().split("\n", 1)
    text = expand(body, SimpleNamespace(cfg=result.config, **values), result).strip()
    header = section_header(title.removeprefix("## "), command, result.machine)
    return f"{header}\n{text}\n\nTotal run time {result.seconds:.0f} s."


@contextmanager
def scratch(section: str, work_dir: Path | None) -> Iterator[Path]:
    """A temporary folder for ``section`` in ``work_dir`` (default: the system's), removed after."""
    with tempfile.TemporaryDirectory(prefix=f"vidsearch-bench-{section}-", dir=work_dir) as tmp:
        yield Path(tmp)


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Timed[T]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def alternate(
    first: Callable[[int], T], second: Callable[[int], U], n: int, warmup: int = 0
) -> tuple[list[Timed[T]], list[Timed[U]]]:
    """``warmup`` untimed calls of both, then ``n`` timed (call ``i`` gets ``i``, warm-ups
    first), alternating which goes first: a baseline measured this way sees the same machine
    noise, and neither side always finds the warmer cache."""
    for i in range(warmup):
        first(i)
        second(i)
    a: list[Timed[T]] = []
    b: list[Timed[U]] = []
    for i in range(warmup, warmup + n):
        if i % 2:
            a.append(timed(first, i))
        b.append(timed(second, i))
        if not i % 2:
            a.append(timed(first, i))
    return a, b


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def wall_ms(runs: Sequence[Timed[object]]) -> list[float]:
    """The wall times of ``runs`` in milliseconds."""
    return [wall * 1e3 for _, wall, _ in runs]


def stages_ms(replies: Iterable[Any]) -> dict[str, list[float]]:
    """Milliseconds of each server stage over ``replies`` (their ``stage_seconds``)."""
    out: dict[str, list[float]] = {}
    for reply in replies:
        for stage, seconds in reply.stage_seconds.items():
            out.setdefault(stage, []).append(seconds * 1e3)
    return out


@dataclass(frozen=True)
class Latency:
    """Milliseconds: p50/p95 of wall time and p50 of process CPU time (all threads); the
    rate of ``items`` a call at the p50."""

    p50_ms: float
    p95_ms: float
    cpu_p50_ms: float
    items_per_s: float

    @staticmethod
    def of(runs: Sequence[Timed[object]], items: int = 1) -> Latency:
        wall, cpu = [r[1] * 1e3 for r in runs], [r[2] * 1e3 for r in runs]
        p50 = percentile(wall, 50)
        return Latency(p50, percentile(wall, 95), percentile(cpu, 50), items / p50 * 1e3)


class ModelsConfig(SectionConfig):
    """Options of the sections that export models (``export_checkpoints``) and serve them."""

    checkpoints: Path = Path("models/starter")
    """folder of the starter checkpoints (else: the toy family)"""
    repository: Path | None = None
    """serve this exported repository instead"""
    seed: int = 0
    work_dir: Path | None = None
    """where the temporary folder goes (default: the system's temporary folder)"""


class ServedBenchConfig(ModelsConfig):
    """Options of the sections that index generated references into the real server."""

    references: int = 2
    """videos indexed"""
    ref_duration_s: float = 3.0
    """seconds per reference"""
    width: int = 160
    height: int = 120
    fps: float = 8.0

    def media_key(self, render_scale: int) -> str:
        """What a generated file's name says of the settings it was made with."""
        return f"{self.width}x{self.height}-{self.fps:g}fps-s{render_scale}-seed{self.seed}"


def write_references(
    cfg: ServedBenchConfig, media: Path, log: Log, render_scale: int = 1
) -> tuple[list[tuple[str, Path]], int]:
    """((id, file) of each reference, files written now): a file already in ``media`` is
    reused, its name holding every setting it was made with. Seeded ``render_video`` content
    at 1/``render_scale`` of the size, upscaled: rendering natively at 360p costs ~90 ms a
    frame on 2 cores, while the upscaled frames still move every frame, so decoding them
    costs what real 360p H.264 costs."""
    from vidsearch.media.synthetic import render_video, write_video

    refs, generated = [], 0
    size = [max(2, round(d / max(1, render_scale))) for d in (cfg.width, cfg.height)]
    for i in range(cfg.references):
        vid = f"ref{i:04d}"
        path = media / f"{vid}-{cfg.ref_duration_s:g}s-{cfg.media_key(render_scale)}.mp4"
        if not path.is_file():
            frames = render_video(cfg.seed * 100_003 + i, cfg.ref_duration_s, cfg.fps, *size)
            write_video(path, frames, cfg.fps, crf=23, size=(cfg.width, cfg.height))
            generated += 1
            if generated == 1 or (i + 1) % 10 == 0:
                log(f"[bench] reference {i + 1}/{cfg.references} written")
        refs.append((vid, path))
    return refs, generated


def export_checkpoints(
    cfg: ModelsConfig, paths: list[Path], out: Path, log: Log, toy_effect: str
) -> tuple[Path, str, bool]:
    """(repository to serve, where its models came from, toy?): ``cfg.repository`` as is,
    else ``paths`` (checkpoints in ``cfg.checkpoints``) exported into ``out`` when all are
    there, else the toy family, tiny stand-in networks (the sections say so: ``toy_effect``)."""
    from vidsearch.evaluation.systems import export_release
    from vidsearch.exporters.families import get_family
    from vidsearch.exporters.pipeline import export_models

    if cfg.repository is not None:
        return cfg.repository, f"exported repository `{cfg.repository}` (as is)", False
    if paths and all(p.is_file() for p in paths):
        names = ", ".join(p.name for p in paths)
        source = f"checkpoints in `{cfg.checkpoints}` ({names}), exported by `export_models`"
        log(f"[bench] exporting {source}")
        export_release(paths, out)
        return out, source, False
    missing = ", ".join(p.name for p in paths if not p.is_file()) or "checkpoints"
    source = f"**`toy` family** (no {missing} in `{cfg.checkpoints}`): tiny stand-in networks"
    log(f"[bench] exporting {source}, {toy_effect}")
    export_models([get_family("toy").loader(None, cfg.seed)], out)
    return out, f"{source}, {toy_effect}", True


@contextmanager
def serving(config: Any) -> Iterator[tuple[str, Any]]:
    """The real gRPC server (``build_server``) in this process; yields its target and its
    orchestrator (whose catalog a baseline may read back)."""
    from vidsearch.orchestrator.factory import build_orchestrator
    from vidsearch.service.server import build_server

    with closing(build_orchestrator(config)) as orchestrator:
        running = build_server(config, orchestrator)
        try:
            yield running.target, orchestrator
        finally:
            running.stop(grace=1.0)


@dataclass(frozen=True)
class IndexSample:
    video_id: str
    duration_s: float
    bytes: int
    wall_s: float
    cpu_s: float  # process CPU (client + server threads) during the call


@dataclass
class Server:
    """How a section's server was set up, and its references' indexing (one call each)."""

    target: str = ""
    source: str = ""  # where its models came from, for the section's text
    toy: bool = False  # the toy family: cheaper inference, meaningless hits
    export_s: float = 0.0
    start_s: float = 0.0
    index: list[IndexSample] = field(default_factory=list)

    @property
    def index_s(self) -> float:
        """Wall time of the references' indexing, one after the other."""
        return sum(x.wall_s for x in self.index)


@contextmanager
def served(
    cfg: ServedBenchConfig, refs: list[tuple[str, Path]], root: Path, server: Server, log: Log,
    tune: Callable[[Any], object] = lambda config: None,
    checkpoints: Sequence[str] = ("video_hash.pt", "barlow.pt"),
    toy_effect: str = "so inference is cheaper and hits are meaningless",
) -> Iterator[tuple[Any, Any, Any]]:  # fmt: skip
    """(SDK client, config, orchestrator) of the real server on loopback serving
    ``checkpoints`` of ``cfg`` (``tune`` may change its config first), with ``refs`` indexed
    one after the other; ``server`` records how."""
    from vidsearch_client import VideoSearchClient

    from vidsearch.config import embedded_loopback_config

    (repository, server.source, server.toy), server.export_s, _ = timed(
        export_checkpoints, cfg, [cfg.checkpoints / name for name in checkpoints],
        root / "model_repository", log, toy_effect,
    )  # fmt: skip
    config = embedded_loopback_config(repository, root)
    tune(config)
    started = time.perf_counter()
    with (serving(config) as (target, orchestrator),
          VideoSearchClient(target, timeout=600.0) as client):
        server.start_s, server.target = time.perf_counter() - started, target
        log(f"[bench] serving on {target} ({server.start_s:.1f} s)")
        for vid, path in refs:
            _, wall, cpu = timed(client.index_file, path, vid)
            size = path.stat().st_size
            server.index.append(IndexSample(vid, cfg.ref_duration_s, size, wall, cpu))
        yield client, config, orchestrator
