"""Load: SearchByVideo above capacity on loopback, open loop from several SDK clients with
retries off; every call must end accepted (OK) or rejected (RESOURCE_EXHAUSTED, the
backpressure asked for), never as another error. The section's text says how."""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import harness as bench
from vidsearch.evaluation.report import fmt, percentile

TITLE = "Load: SearchByVideo above capacity on loopback (backpressure)"
OUTCOMES = {"ok": "accepted (OK)", "RESOURCE_EXHAUSTED": "rejected (RESOURCE_EXHAUSTED)"}


class LoadBenchConfig(bench.ServedBenchConfig):
    max_concurrent: int = 1
    """server.max_concurrent_searches"""
    clients: int = 4
    """threads, one SDK client each"""
    rate: float = 16.0
    """offered requests per second, all clients together"""
    duration_s: float = 3.0


@dataclass(frozen=True)
class Call:
    latency_s: float
    outcome: str  # "ok", "RESOURCE_EXHAUSTED" or the error's class name


@dataclass
class LoadBenchResult(bench.SectionResult[LoadBenchConfig]):
    server: bench.Server = field(default_factory=bench.Server)
    max_workers: int = 0
    calls: list[Call] = field(default_factory=list)
    wall_s: float = 0.0  # first send to last answer
    errors: Counter[str] = field(default_factory=Counter)  # other errors, by type: message

    def latencies(self, outcome: str) -> list[float]:
        return [c.latency_s for c in self.calls if c.outcome == outcome]

    @property
    def accepted(self) -> int:
        return len(self.latencies("ok"))

    @property
    def rejected(self) -> int:
        return len(self.latencies("RESOURCE_EXHAUSTED"))

    @property
    def other_errors(self) -> int:
        return len(self.calls) - self.accepted - self.rejected


def _client_loop(
    target: str, queries: list[Path], index: int, cfg: LoadBenchConfig, t0: float,
    result: LoadBenchResult, lock: threading.Lock,
) -> None:  # fmt: skip
    from vidsearch_client import ResourceExhausted, RetryPolicy, VideoSearchClient

    period = cfg.clients / cfg.rate
    with VideoSearchClient(target, timeout=120.0, retry=RetryPolicy(max_attempts=1)) as client:
        for n in itertools.count():
            due = t0 + index * period / cfg.clients + n * period
            if due - t0 >= cfg.duration_s:
                return
            time.sleep(max(0.0, due - time.perf_counter()))
            start = time.perf_counter()
            try:
                client.search_video(queries[(index + n) % len(queries)])
                outcome = "ok"
            except ResourceExhausted:
                outcome = "RESOURCE_EXHAUSTED"
            except Exception as exc:  # counted and reported: must not happen
                outcome = type(exc).__name__
                with lock:
                    result.errors[f"{outcome}: {str(exc)[:120]}"] += 1
            with lock:
                result.calls.append(Call(time.perf_counter() - start, outcome))


def run(cfg: LoadBenchConfig, log: bench.Log = bench.stderr) -> LoadBenchResult:
    if cfg.references < 1 or cfg.clients < 1 or cfg.rate <= 0 or cfg.duration_s <= 0:
        raise ValueError("need references, clients, a positive rate and duration")
    result = LoadBenchResult(cfg)

    def tune(config: Any) -> None:
        config.server.max_concurrent_searches = cfg.max_concurrent
        # Enough gRPC workers that every client reaches the orchestrator's gate.
        config.server.max_workers = result.max_workers = max(
            config.server.max_workers, cfg.clients + 2
        )

    with tempfile.TemporaryDirectory(prefix="vidsearch-bench-load-", dir=cfg.work_dir) as tmp:
        refs, _ = bench.write_references(cfg, Path(tmp) / "media", log)
        with bench.served(cfg, refs, Path(tmp), result.server, log, tune) as (client, _):
            client.search_video(refs[0][1])  # warm-up
            log(f"[load] {len(refs)} indexed; {cfg.duration_s:g} s of load")
            lock, t0 = threading.Lock(), time.perf_counter()
            queries = [path for _, path in refs]
            with ThreadPoolExecutor(cfg.clients) as pool:
                list(pool.map(lambda i: _client_loop(result.server.target, queries, i, cfg, t0,
                                                     result, lock), range(cfg.clients)))
            result.wall_s = time.perf_counter() - t0
    log(f"[load] accepted {result.accepted}, rejected {result.rejected}, "
        f"other errors {result.other_errors}")  # fmt: skip
    return result.finished()


def to_markdown(result: LoadBenchResult, command: str) -> str:
    cfg, wall, server = result.config, result.wall_s, result.server
    lines = [
        f"The real gRPC server (`build_server`) in this process on {server.target or 'loopback'} "
        "(ONNX Runtime + Qdrant Edge, as in the end-to-end section) with "
        f"`server.max_concurrent_searches = {cfg.max_concurrent}` and {result.max_workers} gRPC "
        f"workers. {cfg.references} references of {cfg.ref_duration_s:g} s ({cfg.width}x"
        f"{cfg.height} at {cfg.fps:g} fps, H.264) are indexed and used as the queries. "
        f"{cfg.clients} threads, each with its own `VideoSearchClient` and retries off "
        f"(`RetryPolicy(max_attempts=1)`), offer {cfg.rate:g} SearchByVideo/s together, open "
        f"loop, for {cfg.duration_s:g} s.\n\n- Models: {server.source}.\n"
    ]

    def p(outcome: str, q: float) -> str:
        samples = result.latencies(outcome)
        return fmt(percentile(samples, q), 3) if samples else "nan"

    lines.append(bench.table({
        "outcome": lambda o: OUTCOMES.get(o, "other errors"),
        "calls": lambda o: len(result.latencies(o)) if o in OUTCOMES else result.other_errors,
        "p50 s": lambda o: p(o, 50) if o in OUTCOMES else "",
        "p99 s": lambda o: p(o, 99) if o in OUTCOMES else "",
    }, [*OUTCOMES, "other"]))  # fmt: skip
    offered, accepted = bench.ratio(len(result.calls), wall), bench.ratio(result.accepted, wall)
    lines.append(
        f"Offered {fmt(offered)} calls/s (target {cfg.rate:g}), served {fmt(accepted)} "
        f"accepted/s over {wall:.1f} s ({len(result.calls)} calls).\n"
    )
    if result.errors:
        lines.append("**Other errors** (must be none):\n")
        lines.extend(f"- {msg} (x{n})" for msg, n in result.errors.most_common())
        lines.append("")
    return result.markdown(TITLE, command, *lines)
