"""Backfill: `vidsearch backfill` on a local Ray, 1 and 2 workers, vs `vidsearch index` (the
SDK's index_file into the real server, one video at a time), same references, same run; the
stage costs and cluster projection are the backfill report's own (sections/backfill.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks import harness as bench


class BackfillBenchConfig(bench.ServedBenchConfig):
    workers: tuple[int, ...] = (1, 2)
    """local workers: a decode slot and an encode actor each (2 Ray CPUs)"""


@dataclass
class BackfillBenchResult(bench.SectionResult[BackfillBenchConfig]):
    server: bench.Server = field(default_factory=bench.Server)
    runs: list[tuple[int, Any]] = field(default_factory=list)  # (workers, BackfillReport)


def run(cfg: BackfillBenchConfig, log: bench.Log = bench.stderr) -> BackfillBenchResult:
    from vidsearch.batch import cli, manifest, pipeline

    result = BackfillBenchResult(cfg)
    with bench.scratch("backfill", cfg.work_dir) as root:
        refs, _ = bench.write_references(cfg, root / "media", log)
        with bench.served(cfg, refs, root, result.server, log) as (_, config, _):
            pass  # `vidsearch index`: the references indexed one at a time (server.index)
        for workers in cfg.workers:
            config.catalog.path = root / f"backfill-{workers}"
            report = cli.run_job(config, [manifest.ManifestEntry(*ref) for ref in refs],
                                 pipeline.BackfillOptions(encoders=workers), num_cpus=2 * workers)
            result.runs.append((workers, report))
            log(f"[backfill] {workers} worker(s): {report.summary()}")
    return result.finished()


def to_markdown(result: BackfillBenchResult, command: str) -> str:
    rate, first = bench.ratio(len(result.server.index), result.server.index_s), result.runs[0][1]
    return bench.render("backfill", result, command, index_rate=rate,
                        first=first, node=first.projections[0],
                        slower=max(r.videos_per_s for _, r in result.runs) < rate,
                        rows=[(w, r, bench.ratio(r.videos_per_s, rate)) for w, r in result.runs])
