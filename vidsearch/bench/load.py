"""Load: SearchByVideo above capacity on loopback; accepted vs RESOURCE_EXHAUSTED.

    python -m vidsearch.bench.load [--clients 8] [--rate 20] [--duration 20]

The real gRPC server (``build_server``, embedded ONNX Runtime + Qdrant Edge, set up as in
``vidsearch.bench.end_to_end``, whose helpers this reuses) runs in this process on a free
loopback port with ``server.max_concurrent_searches`` small. A few generated references
are indexed, then ``--clients`` threads, each with its own ``VideoSearchClient`` and
retries off (``RetryPolicy(max_attempts=1)``), search with those references as queries,
open loop: together they offer ``--rate`` requests per second (each thread on its own
schedule; a thread that falls behind sends at once) for ``--duration`` seconds. Each
call ends accepted (OK), rejected (RESOURCE_EXHAUSTED: the backpressure the issue asks
for) or as another error, which must not happen. Reported: the counts, p50/p99 of the
accepted calls' client-side latency and of the rejections, the offered and served rates.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidsearch.bench.end_to_end import (
    EndToEndBenchConfig,
    _server_config,
    prepare_repository,
    write_reference,
)
from vidsearch.bench.report import (
    MachineInfo,
    fmt,
    machine_info,
    md_table,
    percentile,
    section_header,
)

SECTION = "load"
TITLE = "Load: SearchByVideo above capacity on loopback (backpressure)"

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LoadBenchConfig:
    checkpoints: Path = Path("models/starter")
    repository: Path | None = None  # an exported repository to serve as is
    references: int = 4
    ref_duration_s: float = 10.0
    width: int = 320
    height: int = 240
    fps: float = 25.0
    max_concurrent: int = 2  # server.max_concurrent_searches
    clients: int = 8  # threads, one SDK client each
    rate: float = 20.0  # offered requests per second, all clients together
    duration_s: float = 20.0
    seed: int = 0
    work_dir: Path | None = None


@dataclass(frozen=True)
class Call:
    started: float  # seconds since the load began
    latency_s: float
    outcome: str  # "ok", "RESOURCE_EXHAUSTED" or the error's class name


@dataclass
class LoadBenchResult:
    config: LoadBenchConfig
    machine: MachineInfo
    source: str = ""
    toy: bool = False
    target: str = ""
    max_workers: int = 0
    calls: list[Call] = field(default_factory=list)
    wall_s: float = 0.0  # first send to last answer
    errors: Counter[str] = field(default_factory=Counter)  # other errors, by type: message
    seconds: float = 0.0

    def of(self, outcome: str) -> list[Call]:
        return [c for c in self.calls if c.outcome == outcome]

    @property
    def accepted(self) -> int:
        return len(self.of("ok"))

    @property
    def rejected(self) -> int:
        return len(self.of("RESOURCE_EXHAUSTED"))

    @property
    def other_errors(self) -> int:
        return len(self.calls) - self.accepted - self.rejected

    def latency(self, outcome: str, q: float) -> float:
        samples = [c.latency_s for c in self.of(outcome)]
        return percentile(samples, q) if samples else float("nan")

    @property
    def offered_rate(self) -> float:
        return len(self.calls) / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def served_rate(self) -> float:
        return self.accepted / self.wall_s if self.wall_s > 0 else float("nan")


def _client_loop(
    target: str,
    queries: list[Path],
    index: int,
    cfg: LoadBenchConfig,
    t0: float,
    out: list[Call],
    errors: Counter[str],
    lock: threading.Lock,
) -> None:
    from vidsearch_client import ResourceExhausted, RetryPolicy, VideoSearchClient

    period = cfg.clients / cfg.rate
    client = VideoSearchClient(target, timeout=120.0, retry=RetryPolicy(max_attempts=1))
    try:
        n = 0
        while True:
            due = t0 + index * period / cfg.clients + n * period
            if due - t0 >= cfg.duration_s:
                return
            time.sleep(max(0.0, due - time.perf_counter()))
            query = queries[(index + n) % len(queries)]
            start = time.perf_counter()
            try:
                client.search_video(query)
                outcome = "ok"
            except ResourceExhausted:
                outcome = "RESOURCE_EXHAUSTED"
            except Exception as exc:  # counted and reported: must not happen
                outcome = type(exc).__name__
                with lock:
                    errors[f"{outcome}: {str(exc)[:120]}"] += 1
            call = Call(start - t0, time.perf_counter() - start, outcome)
            with lock:
                out.append(call)
            n += 1
    finally:
        client.close()


def run_load_bench(cfg: LoadBenchConfig, log: Log = _stderr) -> LoadBenchResult:
    from vidsearch_client import VideoSearchClient

    from vidsearch.orchestrator.factory import build_orchestrator
    from vidsearch.service.server import build_server

    if cfg.references < 1 or cfg.clients < 1 or cfg.rate <= 0 or cfg.duration_s <= 0:
        raise ValueError("need references, clients, a positive rate and duration")
    result = LoadBenchResult(cfg, machine_info())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vidsearch-bench-load-", dir=cfg.work_dir) as tmp:
        root = Path(tmp)
        refs = [
            write_reference(
                root / "media" / f"ref{i:04d}.mp4",
                cfg.seed * 100_003 + i,
                cfg.ref_duration_s,
                fps=cfg.fps,
                width=cfg.width,
                height=cfg.height,
            )
            for i in range(cfg.references)
        ]
        e2e = EndToEndBenchConfig(
            checkpoints=cfg.checkpoints, repository=cfg.repository, seed=cfg.seed
        )
        repository, result.source, result.toy = prepare_repository(e2e, root, log)
        config = _server_config(repository, root)
        config.server.max_concurrent_searches = cfg.max_concurrent
        # Enough gRPC workers that every client reaches the orchestrator's gate.
        config.server.max_workers = max(config.server.max_workers, cfg.clients + 2)
        result.max_workers = config.server.max_workers
        orchestrator = build_orchestrator(config)
        running: Any = None
        try:
            running = build_server(config, orchestrator)
            result.target = running.target
            with VideoSearchClient(running.target, timeout=600.0) as client:
                for i, path in enumerate(refs):
                    client.index_file(path, f"ref{i:04d}")
                client.search_video(refs[0])  # warm-up
            log(f"[load] {len(refs)} indexed on {running.target}; {cfg.duration_s:g} s of load")
            lock = threading.Lock()
            t0 = time.perf_counter()
            threads = [
                threading.Thread(
                    target=_client_loop,
                    args=(running.target, refs, i, cfg, t0, result.calls, result.errors, lock),
                    daemon=True,
                )
                for i in range(cfg.clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            result.wall_s = time.perf_counter() - t0
        finally:
            if running is not None:
                running.stop(grace=1.0)
            orchestrator.close()
    result.calls.sort(key=lambda c: c.started)
    result.seconds = time.perf_counter() - started
    log(
        f"[load] accepted {result.accepted}, rejected {result.rejected}, "
        f"other errors {result.other_errors}"
    )
    return result


def to_markdown(result: LoadBenchResult, command: str) -> str:
    cfg = result.config
    lines = [section_header(TITLE, command, result.machine)]
    lines.append(
        f"The real gRPC server (`build_server`) in this process on {result.target or 'loopback'} "
        f"(ONNX Runtime + Qdrant Edge, as in the end-to-end section) with "
        f"`server.max_concurrent_searches = {cfg.max_concurrent}` and "
        f"{result.max_workers} gRPC workers. {cfg.references} references of "
        f"{cfg.ref_duration_s:g} s ({cfg.width}x{cfg.height} at {cfg.fps:g} fps, H.264) are "
        f"indexed and used as the queries. {cfg.clients} threads, each with its own "
        f"`VideoSearchClient` and retries off (`RetryPolicy(max_attempts=1)`), offer "
        f"{cfg.rate:g} SearchByVideo/s together, open loop, for {cfg.duration_s:g} s.\n\n"
        f"- Models: {result.source}.\n"
    )
    rows = [
        ["accepted (OK)", result.accepted, fmt(result.latency("ok", 50), 3),
         fmt(result.latency("ok", 99), 3)],
        ["rejected (RESOURCE_EXHAUSTED)", result.rejected,
         fmt(result.latency("RESOURCE_EXHAUSTED", 50), 3),
         fmt(result.latency("RESOURCE_EXHAUSTED", 99), 3)],
        ["other errors", result.other_errors, "", ""],
    ]  # fmt: skip
    lines.append(md_table(["outcome", "calls", "p50 s", "p99 s"], rows))
    lines.append(
        f"\nOffered {fmt(result.offered_rate)} calls/s (target {cfg.rate:g}), served "
        f"{fmt(result.served_rate)} accepted/s over {result.wall_s:.1f} s "
        f"({len(result.calls)} calls)."
    )
    if result.errors:
        lines.append("\n**Other errors** (must be none):\n")
        lines.extend(f"- {msg} (x{n})" for msg, n in result.errors.most_common())
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Options of this benchmark (``prefix`` namespaces them inside ``bench.run``)."""
    d = LoadBenchConfig()
    p = f"--{prefix}"
    parser.add_argument(f"{p}checkpoints", type=Path, default=d.checkpoints)
    parser.add_argument(f"{p}repository", type=Path, default=None)
    parser.add_argument(f"{p}references", type=int, default=d.references)
    parser.add_argument(f"{p}ref-duration", type=float, default=d.ref_duration_s)
    parser.add_argument(f"{p}width", type=int, default=d.width)
    parser.add_argument(f"{p}height", type=int, default=d.height)
    parser.add_argument(f"{p}fps", type=float, default=d.fps)
    parser.add_argument(
        f"{p}max-concurrent", type=int, default=d.max_concurrent,
        help="server.max_concurrent_searches",
    )  # fmt: skip
    parser.add_argument(f"{p}clients", type=int, default=d.clients, help="threads")
    parser.add_argument(f"{p}rate", type=float, default=d.rate, help="offered calls/s in all")
    parser.add_argument(f"{p}duration", type=float, default=d.duration_s, help="seconds")
    parser.add_argument(f"{p}seed", type=int, default=d.seed)


def config_from_args(args: argparse.Namespace, prefix: str = "") -> LoadBenchConfig:
    a = prefix.replace("-", "_")

    def get(name: str) -> Any:
        return getattr(args, f"{a}{name}")

    return LoadBenchConfig(
        checkpoints=get("checkpoints"),
        repository=get("repository"),
        references=get("references"),
        ref_duration_s=get("ref_duration"),
        width=get("width"),
        height=get("height"),
        fps=get("fps"),
        max_concurrent=get("max_concurrent"),
        clients=get("clients"),
        rate=get("rate"),
        duration_s=get("duration"),
        seed=get("seed"),
    )


def config_argv(cfg: LoadBenchConfig, prefix: str = "") -> list[str]:
    p = f"--{prefix}"
    argv = [f"{p}checkpoints", str(cfg.checkpoints)]
    if cfg.repository is not None:
        argv += [f"{p}repository", str(cfg.repository)]
    argv += [
        f"{p}references", str(cfg.references),
        f"{p}ref-duration", f"{cfg.ref_duration_s:g}",
        f"{p}width", str(cfg.width),
        f"{p}height", str(cfg.height),
        f"{p}fps", f"{cfg.fps:g}",
        f"{p}max-concurrent", str(cfg.max_concurrent),
        f"{p}clients", str(cfg.clients),
        f"{p}rate", f"{cfg.rate:g}",
        f"{p}duration", f"{cfg.duration_s:g}",
        f"{p}seed", str(cfg.seed),
    ]  # fmt: skip
    return argv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    cfg = config_from_args(parser.parse_args(argv))
    command = shlex.join(["python", "-m", "vidsearch.bench.load", *config_argv(cfg)])
    print(to_markdown(run_load_bench(cfg), command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
