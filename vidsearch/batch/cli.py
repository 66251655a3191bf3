"""`vidsearch backfill`: index an archive (or re-index the catalog) on Ray Data.

Ray is an optional extra (``pip install 'vidsearch[backfill]'``); it is imported only
when the command runs, so the server and the SDK never need it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsearch.batch.report import NODE_DECODE_CPUS, NODE_ENCODERS, PROJECTED_NODES
from vidsearch.cli_args import existing_file

if TYPE_CHECKING:
    from vidsearch.batch.manifest import ManifestEntry
    from vidsearch.batch.pipeline import BackfillOptions
    from vidsearch.batch.report import BackfillReport, Item
    from vidsearch.config import VidsearchConfig

DESCRIPTION = """\
Index the videos a manifest lists (CSV or JSON Lines: source = a path or file:// URI,
optional id, title, tags), or with --reindex move every video of the catalog to the
target model version, as a Ray Data pipeline: sandboxed decode (CPU tasks), encode (a
pool of actors, each with the configured inference backend: ONNX Runtime in process,
or Triton), catalog writes in this process through the server's own write path.

A video already indexed under its id with the same content and the target model
version is skipped, so a killed run can simply be run again. Each stage of a video is
retried after transient errors (--retries); videos that still fail are listed in the
report (--report) and the exit status is 1. Without --address (or $RAY_ADDRESS) Ray
runs on this machine with --num-cpus CPUs."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backfill", help="index a manifest of videos (or re-index the catalog) on Ray",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("manifest", nargs="?", type=existing_file, default=None,
                      metavar="MANIFEST", help="CSV or JSONL of the videos to index")
    what.add_argument("--reindex", action="store_true",
                      help="re-index the catalog's videos that are not at the target version")
    parser.add_argument("--config", type=existing_file, default=None, help="YAML config file")
    parser.add_argument("--model-version", type=int, default=None,
                        help="target model version (default: the config's pin, else latest)")
    parser.add_argument("--report", type=Path, default=Path("backfill-report.json"),
                        help="where the JSON report (outcomes, failures, stage costs) goes")
    ray_group = parser.add_argument_group("Ray")
    ray_group.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                           help="Ray cluster to join (default $RAY_ADDRESS; none: local)")
    ray_group.add_argument("--num-cpus", type=int, default=None,
                           help="local Ray's CPUs (default: this machine's)")
    ray_group.add_argument("--encoders", type=int, default=1, help="encode actors")
    ray_group.add_argument("--encoder-cpus", type=float, default=1.0,
                           help="CPUs each encode actor reserves")
    ray_group.add_argument("--encoder-gpus", type=float, default=0.0,
                           help="GPUs each encode actor reserves (1 on GPU workers)")
    ray_group.add_argument("--decode-cpus", type=float, default=1.0,
                           help="CPUs each decode task reserves")
    ray_group.add_argument("--retries", type=int, default=2,
                           help="attempts after the first, per stage of a video")
    ray_group.add_argument("--encode-batch", type=int, default=4,
                           help="videos an encode actor takes at once")
    ray_group.add_argument("--write-batch", type=int, default=16,
                           help="videos the writer takes from the stream at once")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve the Prometheus counters on this port while running")
    plan = parser.add_argument_group("capacity projection (from this run's stage costs)")
    plan.add_argument("--project-nodes", type=_counts, default=PROJECTED_NODES,
                      help="comma-separated cluster sizes to project throughput for "
                      f"(default {','.join(map(str, PROJECTED_NODES))})")
    plan.add_argument("--project-decode-cpus", type=int, default=NODE_DECODE_CPUS,
                      help="decode CPUs per projected node (the RayJob's decode-cpu group)")
    plan.add_argument("--project-encoders", type=int, default=NODE_ENCODERS,
                      help="encode actors per projected node (GPUs of its encode-gpu group)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print a line per finished video")
    parser.set_defaults(func=backfill)


def _counts(value: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a list of positive counts")
    return counts


@contextmanager
def ray_session(address: str | None, num_cpus: int | None) -> Iterator[None]:
    """Join ``address`` or start Ray here; a Ray already started (tests) is reused as is."""
    import ray

    if ray.is_initialized():
        yield
        return
    if address:
        ray.init(address=address)
    else:
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()


def _print_item(item: Item) -> None:
    where = f" at {item.stage}: {item.error}" if item.error else ""
    print(f"{item.status} {item.entry.video_id}{where}", flush=True)


def run_job(config: VidsearchConfig, entries: Sequence[ManifestEntry], options: BackfillOptions,
            *, reindex: bool = False, address: str | None = None, num_cpus: int | None = None,
            project_onto: tuple[Sequence[int], int, int] = (PROJECTED_NODES, NODE_DECODE_CPUS,
                                                            NODE_ENCODERS),
            on_item: Callable[[Item], None] = lambda item: None) -> BackfillReport:  # fmt: skip
    """The whole command: the orchestrator the config describes (the driver's catalog
    writer), Ray (joined or local), the pipeline over ``entries`` (or, with ``reindex``,
    over the catalog's videos not at the target version), then the catalog optimized, and
    the run's throughput projected onto (cluster sizes, decode CPUs, encoders per node)."""
    from vidsearch.batch.pipeline import reindex_entries, run_backfill
    from vidsearch.batch.report import project
    from vidsearch.orchestrator.factory import build_orchestrator

    orchestrator = build_orchestrator(config)
    try:
        missing: list[str] = []
        if reindex:
            entries, missing = reindex_entries(orchestrator, options.model_version)
        with ray_session(address, num_cpus):
            report = run_backfill(orchestrator, config, entries, options, missing=missing,
                                  on_item=on_item)
        orchestrator.optimize_catalog()
        nodes, decode_cpus, encoders = project_onto
        report.projections = [project(report, n, decode_cpus=decode_cpus, encoders=encoders)
                              for n in nodes]  # fmt: skip
        return report
    finally:
        orchestrator.close()


def backfill(args: argparse.Namespace) -> int:
    from vidsearch.batch.manifest import ManifestError, read_manifest
    from vidsearch.batch.pipeline import BackfillOptions
    from vidsearch.config import load_config

    try:
        entries = read_manifest(args.manifest) if args.manifest else []
    except (ManifestError, OSError, UnicodeDecodeError) as exc:
        print(f"vidsearch backfill: error: {exc}", file=sys.stderr)
        return 2
    if args.encoders < 1 or args.retries < 0 or args.encode_batch < 1 or args.write_batch < 1:
        print("vidsearch backfill: error: --encoders, --encode-batch and --write-batch must be "
              "at least 1, --retries at least 0", file=sys.stderr)
        return 2
    options = BackfillOptions(
        model_version=args.model_version, retries=args.retries, encoders=args.encoders,
        encoder_cpus=args.encoder_cpus, encoder_gpus=args.encoder_gpus,
        decode_cpus=args.decode_cpus, encode_batch=args.encode_batch,
        write_batch=args.write_batch,
    )  # fmt: skip
    config = load_config(args.config)
    metrics_server = None
    if args.metrics_port is not None:
        from vidsearch.metrics import start_metrics_http

        metrics_server, port = start_metrics_http(config.server.host, args.metrics_port)
        print(f"metrics on http://{config.server.host}:{port}/metrics", flush=True)
    try:
        report = run_job(config, entries, options, reindex=args.reindex, address=args.address,
                         num_cpus=args.num_cpus, project_onto=(args.project_nodes,
                         args.project_decode_cpus, args.project_encoders),
                         on_item=_print_item if args.verbose else lambda item: None)
    finally:
        if metrics_server is not None:
            from vidsearch.metrics import stop_metrics_http

            stop_metrics_http(metrics_server)
    report.write(args.report)
    print(report.summary())
    print(f"report: {args.report}")
    return 1 if report.failures else 0
