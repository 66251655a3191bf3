"""What a backfill did: each video's outcome, the failures (source, error) and the
throughput and per-stage costs from which a cluster's throughput is projected."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vidsearch import metrics
from vidsearch.batch.manifest import ManifestEntry

INDEXED, SKIPPED, FAILED = "indexed", "skipped", "failed"
# What `vidsearch backfill` projects its throughput onto by default: cluster sizes, and a
# node as the RayJob in k8s/backfill shapes it (decode CPUs; encode actors, one per GPU).
PROJECTED_NODES, NODE_DECODE_CPUS, NODE_ENCODERS = (1, 4, 16), 16, 1
# Stages whose per-video seconds are measured: hash (SHA-256 of the file), decode (the
# sandboxed decoder), the encode stages (encode, text_encode, tag_feature) and catalog_upsert.
ENCODE_STAGES = ("encode", "text_encode", "tag_feature")


@dataclass
class Item:
    """One manifest entry on its way through the pipeline (pickled between stages)."""

    entry: ManifestEntry
    status: str = "pending"  # pending -> decoded -> encoded -> indexed | skipped | failed
    stage: str = ""  # where it failed
    error: str = ""
    sha256: str = ""
    retries: int = 0  # attempts beyond the first, all stages together
    seconds: dict[str, float] = field(default_factory=dict)  # per stage, all attempts
    payload: object = None  # DecodedFrames after decode, encoder outputs after encode


@dataclass(frozen=True)
class Failure:
    video_id: str
    source: str
    stage: str
    error: str


@dataclass
class BackfillReport:
    """Outcomes, failures and per-stage seconds of one run (``summary`` prints them)."""

    model_version: int
    outcomes: Counter[str] = field(default_factory=Counter)
    indexed: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    stage_seconds: dict[str, list[float]] = field(default_factory=dict)
    retries: int = 0
    started: float = field(default_factory=time.perf_counter)
    wall_s: float = 0.0
    projections: list[Projection] = field(default_factory=list)  # see ``project``

    def add(self, item: Item) -> None:
        """Count a finished item, in this report and in the Prometheus counters."""
        status = item.status if item.status in (INDEXED, SKIPPED) else FAILED
        self.outcomes[status] += 1
        metrics.BACKFILL_VIDEOS.labels(outcome=status).inc()
        self.retries += item.retries
        if item.retries:
            metrics.BACKFILL_RETRIES.inc(item.retries)
        if status == INDEXED:
            self.indexed.append(item.entry.video_id)
        elif status == FAILED:
            self.failures.append(Failure(item.entry.video_id, str(item.entry.path),
                                         item.stage or "unknown", item.error))
        for stage, seconds in item.seconds.items():
            self.stage_seconds.setdefault(stage, []).append(seconds)
            metrics.STAGE_SECONDS.labels(pipeline="backfill", stage=stage).observe(seconds)

    def finish(self) -> BackfillReport:
        self.wall_s = time.perf_counter() - self.started
        return self

    @property
    def videos_per_s(self) -> float:
        """Videos finished (indexed, skipped or failed) per second of the whole run."""
        return self.outcomes.total() / self.wall_s if self.wall_s > 0 else 0.0

    def per_video_s(self, stage: str) -> float:
        """Median seconds one video spends in ``stage`` (0 when none went through it)."""
        values = self.stage_seconds.get(stage, [])
        return statistics.median(values) if values else 0.0

    def encode_s(self) -> float:
        """Median seconds of one video in all the encode stages together."""
        return sum(self.per_video_s(stage) for stage in ENCODE_STAGES)

    def write(self, path: Path) -> None:
        """The JSON report: outcomes, throughput, median stage seconds and one object per
        failed video (id, source, stage, error)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "model_version": self.model_version, "outcomes": dict(self.outcomes),
            "retries": self.retries, "wall_s": round(self.wall_s, 3),
            "videos_per_s": round(self.videos_per_s, 4),
            "median_stage_seconds": {s: round(self.per_video_s(s), 4)
                                     for s in sorted(self.stage_seconds)},
            "projections": [asdict(p) | {"videos_per_s": p.videos_per_s,
                                         "bottleneck": p.bottleneck} for p in self.projections],
            "failures": [asdict(f) for f in self.failures],
        }  # fmt: skip
        path.write_text(json.dumps(payload, indent=2) + "\n")

    def summary(self) -> str:
        out = self.outcomes
        lines = [
            f"model version {self.model_version}: indexed {out[INDEXED]}, skipped (already "
            f"current) {out[SKIPPED]}, failed {out[FAILED]}, retries {self.retries}",
            f"{out.total()} videos in {self.wall_s:.1f} s ({self.videos_per_s:.2f} videos/s)",
            "median seconds per video: " + ", ".join(
                f"{stage} {self.per_video_s(stage):.3f}" for stage in sorted(self.stage_seconds)),
        ]
        lines += [f"projected on {p.nodes} node(s): {p.videos_per_s:.2f} videos/s (decode "
                  f"{p.decode_per_s:.2f}, encode {p.encode_per_s:.2f}, catalog write "
                  f"{p.write_per_s:.2f}; bottleneck {p.bottleneck})" for p in self.projections]
        lines += [f"  failed {f.video_id} ({f.source}) at {f.stage}: {f.error}"
                  for f in self.failures[:20]]
        if len(self.failures) > 20:
            lines.append(f"  ... {len(self.failures) - 20} more in the failure report")
        return "\n".join(lines)


@dataclass(frozen=True)
class Projection:
    """Videos/s of ``nodes`` nodes, each stage's bound and the stage that limits."""

    nodes: int
    decode_cpus: int  # per node
    encoders: int  # per node
    decode_per_s: float
    encode_per_s: float
    write_per_s: float

    @property
    def videos_per_s(self) -> float:
        return min(self.decode_per_s, self.encode_per_s, self.write_per_s)

    @property
    def bottleneck(self) -> str:
        bounds = {"decode": self.decode_per_s, "encode": self.encode_per_s,
                  "catalog write": self.write_per_s}
        return min(bounds, key=lambda k: bounds[k])


def project(report: BackfillReport, nodes: int, *, decode_cpus: int, encoders: int,
            encode_speedup: float = 1.0) -> Projection:  # fmt: skip
    """Throughput on ``nodes`` nodes, each with ``decode_cpus`` decode slots and ``encoders``
    encode actors, from this run's median per-video stage costs. Assumes stages overlap
    fully (Ray streams them), decode and encode scale linearly with slots (each video is
    independent; the files' storage keeps up), an actor encodes ``encode_speedup`` times
    faster than measured here, and the one writer (the driver) writes at the measured rate."""
    decode = report.per_video_s("hash") + report.per_video_s("decode")
    encode = report.encode_s() / encode_speedup
    write = report.per_video_s("catalog_upsert")
    return Projection(
        nodes, decode_cpus, encoders,
        nodes * decode_cpus / decode if decode > 0 else float("inf"),
        nodes * encoders / encode if encode > 0 else float("inf"),
        1.0 / write if write > 0 else float("inf"),
    )
