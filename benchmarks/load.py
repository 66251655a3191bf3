"""Load: SearchByVideo above capacity on loopback, open loop from several SDK clients with
retries off; every call must end accepted (OK) or rejected (RESOURCE_EXHAUSTED, the
backpressure asked for), never as another error. sections/load.md says how."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import harness as bench

OK, REJECTED = "ok", "RESOURCE_EXHAUSTED"


class LoadBenchConfig(bench.ServedBenchConfig):
    max_concurrent: int = 1
    """server.max_concurrent_searches"""
    clients: int = 4
    """threads, one SDK client each"""
    rate: float = 16.0
    """offered requests per second, all clients together"""
    duration_s: float = 3.0


@dataclass
class LoadBenchResult(bench.SectionResult[LoadBenchConfig]):
    server: bench.Server = field(default_factory=bench.Server)
    max_workers: int = 0
    # Seconds of each call by outcome: "ok", "RESOURCE_EXHAUSTED" or the error's class name.
    latencies: dict[str, list[float]] = field(default_factory=lambda: {OK: [], REJECTED: []})
    wall_s: float = 0.0  # first send to last answer
    errors: Counter[str] = field(default_factory=Counter)  # other errors, by type: message


def run(cfg: LoadBenchConfig, log: bench.Log = bench.stderr) -> LoadBenchResult:
    from vidsearch_client import ResourceExhausted, RetryPolicy, VideoSearchClient

    if cfg.references < 1 or cfg.clients < 1 or cfg.rate <= 0 or cfg.duration_s <= 0:
        raise ValueError("need references, clients, a positive rate and duration")
    result, lock, period = LoadBenchResult(cfg), threading.Lock(), cfg.clients / cfg.rate

    def tune(config: Any) -> None:
        config.server.max_concurrent_searches = cfg.max_concurrent
        # Enough gRPC workers that every client reaches the orchestrator's gate.
        config.server.max_workers = result.max_workers = max(
            config.server.max_workers, cfg.clients + 2
        )

    def client_loop(index: int, queries: list[Path], t0: float) -> None:
        """Client ``index``: a call every ``period`` from its offset, until the duration ends."""
        retry = RetryPolicy(max_attempts=1)
        with VideoSearchClient(result.server.target, timeout=120.0, retry=retry) as client:
            for n in itertools.count():
                due = t0 + index * period / cfg.clients + n * period
                if due - t0 >= cfg.duration_s:
                    return
                time.sleep(max(0.0, due - time.perf_counter()))
                start = time.perf_counter()
                try:
                    client.search_video(queries[(index + n) % len(queries)])
                    outcome = OK
                except ResourceExhausted:
                    outcome = REJECTED
                except Exception as exc:  # counted and reported: must not happen
                    outcome = type(exc).__name__
                    with lock:
                        result.errors[f"{outcome}: {str(exc)[:120]}"] += 1
                with lock:
                    result.latencies.setdefault(outcome, []).append(time.perf_counter() - start)

    with bench.scratch("load", cfg.work_dir) as root:
        refs, _ = bench.write_references(cfg, root / "media", log)
        with bench.served(cfg, refs, root, result.server, log, tune) as (client, _, _):
            client.search_video(refs[0][1])  # warm-up
            log(f"[load] {len(refs)} indexed; {cfg.duration_s:g} s of load")
            t0, queries = time.perf_counter(), [path for _, path in refs]
            with ThreadPoolExecutor(cfg.clients) as pool:
                list(pool.map(lambda i: client_loop(i, queries, t0), range(cfg.clients)))
            result.wall_s = time.perf_counter() - t0
    log(f"[load] accepted {len(result.latencies[OK])}, rejected "
        f"{len(result.latencies[REJECTED])}, other errors {result.errors.total()}")  # fmt: skip
    return result.finished()


def to_markdown(result: LoadBenchResult, command: str) -> str:
    calls = sum(len(seconds) for seconds in result.latencies.values())
    return bench.render(
        "load", result, command, calls=calls, other_errors=result.errors.total(),
        errors=result.errors.most_common(), offered=bench.ratio(calls, result.wall_s),
        served=bench.ratio(len(result.latencies[OK]), result.wall_s),
    )  # fmt: skip
