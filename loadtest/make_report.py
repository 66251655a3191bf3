"""Turn locust's CSV statistics into the ``loadtest`` section of BENCHMARKS.md.

    python loadtest/make_report.py --csv var/loadtest/locust --out BENCHMARKS.md \
        --target 127.0.0.1:50051 --users 4 --spawn-rate 2 --duration 30s [--command ...]

Reads ``<csv>_stats.csv`` and ``<csv>_failures.csv``; one row per RPC plus the total:
requests, failures, RPS, p50/p95/p99 (locust rounds percentiles above 100 ms to 2
significant digits), mean and max. Exit status 0; the caller decides on failures.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

SECTION = "loadtest"
TITLE = "Load test: locust over gRPC (SearchByVideo / IndexVideo / SearchByText / SuggestTags)"


@dataclass(frozen=True)
class RpcStats:
    name: str
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float


def _num(row: dict[str, str], key: str) -> float:
    value = row.get(key, "") or ""
    try:
        return float(value)
    except ValueError:  # "N/A" when nothing was recorded
        return float("nan")


def read_stats(prefix: Path) -> tuple[list[RpcStats], list[tuple[str, str, int]]]:
    """(per-RPC rows, the aggregated row last; failures as (name, error, count))."""
    rows: list[RpcStats] = []
    with open(f"{prefix}_stats.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            rows.append(
                RpcStats(
                    name=row["Name"],
                    requests=int(row["Request Count"]),
                    failures=int(row["Failure Count"]),
                    rps=_num(row, "Requests/s"),
                    p50_ms=_num(row, "50%"),
                    p95_ms=_num(row, "95%"),
                    p99_ms=_num(row, "99%"),
                    mean_ms=_num(row, "Average Response Time"),
                    max_ms=_num(row, "Max Response Time"),
                )
            )
    failures: list[tuple[str, str, int]] = []
    path = Path(f"{prefix}_failures.csv")
    if path.is_file():
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                failures.append((row["Name"], row["Error"], int(row["Occurrences"])))
    return rows, failures


def to_markdown(
    rows: list[RpcStats],
    failures: list[tuple[str, str, int]],
    *,
    command: str,
    target: str,
    users: int,
    spawn_rate: float,
    duration: str,
    scenario: str = "",
    server: str = "",
) -> str:
    from vidsearch.evaluation.report import fmt, machine_info, md_table, section_header

    header = section_header(TITLE, command, machine_info())
    table = md_table(
        ["RPC", "requests", "failures", "RPS", "p50 ms", "p95 ms", "p99 ms", "mean ms", "max ms"],
        [
            [
                "**total**" if r.name == "Aggregated" else r.name,
                r.requests,
                r.failures,
                fmt(r.rps),
                fmt(r.p50_ms, 0),
                fmt(r.p95_ms, 0),
                fmt(r.p99_ms, 0),
                fmt(r.mean_ms, 0),
                fmt(r.max_ms, 0),
            ]
            for r in rows
        ],
    )
    lines = [
        header.rstrip("\n"),
        "",
        f"- Target: `{target}`; {users} users (spawn rate {spawn_rate:g}/s) for {duration}, "
        "closed loop (each user waits for its answer, then thinks 0-0.5 s).",
    ]
    if scenario:
        lines.append(f"- Scenario: {scenario}")
    if server:
        lines.append(f"- Server: {server}")
    lines += [
        "- Times are client-side (locust, per RPC, upload included); locust rounds "
        "percentiles above 100 ms to 2 significant digits. The load generator shares "
        "the CPU with the server on a local run.",
        "",
        table.rstrip("\n"),
        "",
    ]
    if failures:
        lines += [
            "### Errors",
            "",
            md_table(["RPC", "error", "count"], [list(f) for f in failures]).rstrip("\n"),
            "",
        ]
    else:
        lines += ["No errors.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, required=True, help="locust --csv prefix")
    parser.add_argument("--out", type=Path, help="BENCHMARKS.md to update (else stdout)")
    parser.add_argument("--target", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--spawn-rate", type=float, required=True)
    parser.add_argument("--duration", required=True)
    parser.add_argument("--scenario", default="")
    parser.add_argument("--server", default="")
    parser.add_argument("--command", default="make loadtest")
    args = parser.parse_args(argv)
    rows, failures = read_stats(args.csv)
    md = to_markdown(
        rows,
        failures,
        command=args.command,
        target=args.target,
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration=args.duration,
        scenario=args.scenario,
        server=args.server,
    )
    if args.out is None:
        sys.stdout.write(md)
    else:
        from vidsearch.evaluation.report import update_section

        update_section(args.out, SECTION, md)
        print(f"{args.out}: section {SECTION} updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
