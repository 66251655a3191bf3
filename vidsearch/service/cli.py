"""`vidsearch serve`: run the gRPC server on the orchestrator the config describes."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from vidsearch.cli_args import existing_dir, existing_file

log = logging.getLogger("vidsearch.serve")
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the gRPC search server",
        description=(
            "Serve vidsearch.v1.VideoSearch plus the standard gRPC health service and a "
            "Prometheus /metrics endpoint. Settings come from --config (or $VIDSEARCH_CONFIG), "
            "overridden by VIDSEARCH_<SECTION>__<FIELD> environment variables, then by the "
            "flags below. SIGTERM/SIGINT stop gracefully."
        ),
    )
    parser.add_argument("--config", type=existing_file, default=None, help="YAML config file")
    parser.add_argument("--host", default=None, help="listen address (server.host)")
    parser.add_argument("--port", type=int, default=None, help="gRPC port; 0 = any free port")
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="Prometheus port; 0 = any free port"
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds in-flight calls get on shutdown"
    )
    parser.add_argument(
        "--index-dir",
        type=existing_dir,
        default=None,
        help="index every video file in this directory (skipping ids already indexed) "
        "before serving; ids are the file stems",
    )
    parser.add_argument(
        "--with-tritonserver",
        type=existing_dir,
        default=None,
        metavar="CPU_TWIN_REPO",
        help="start the real tritonserver on this (CPU twin) repository and route inference "
        "to it instead of the configured backend",
    )
    parser.add_argument(
        "--review-port",
        type=int,
        default=None,
        metavar="PORT",
        help="also serve the review page (copy matches side by side; needs the web extra) "
        "on server.host:PORT, as a client of this server; off unless given",
    )
    parser.set_defaults(func=serve)
    register_reindex(subparsers)


def register_reindex(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reindex",
        help="re-encode the catalog with another model version",
        description=(
            "Codes from different model versions are never compared. After rolling out a new "
            "model version, re-index every video from its recorded source with that version "
            "(the latest served one by default). Runs in-process on the configured catalog: "
            "stop an embedded (Qdrant Edge) server first; a Qdrant cluster can stay online."
        ),
    )
    parser.add_argument("--config", type=existing_file, default=None, help="YAML config file")
    parser.add_argument("--model-version", type=int, default=None, help="default: latest")
    parser.set_defaults(func=reindex)


def reindex(args: argparse.Namespace) -> int:
    from vidsearch.config import load_config
    from vidsearch.orchestrator.factory import build_orchestrator

    orchestrator = build_orchestrator(load_config(args.config))
    try:
        report = orchestrator.reindex(args.model_version)
    finally:
        orchestrator.close()
    print(
        f"model version {report.model_version}: re-indexed {len(report.reindexed)}, "
        f"already current {len(report.current)}, no readable source "
        f"{len(report.missing_source)}"
    )
    for video_id in report.missing_source:
        print(f"  upload again: {video_id}")
    return 1 if report.missing_source else 0


def serve(args: argparse.Namespace) -> int:
    """Load config, build the orchestrator, serve until a signal arrives."""
    from vidsearch.config import load_config
    from vidsearch.logs import configure_logging

    config = load_config(args.config)
    for flag, name in (("host", "host"), ("port", "port"), ("metrics_port", "metrics_port")):
        value = getattr(args, flag)
        if value is not None:
            setattr(config.server, name, value)
    configure_logging(config.log_level, config.log_format)
    if config.log_format == "json":
        log.info("loaded config", extra={"config": json.loads(config.describe())})
    else:
        log.info("loaded config:\n%s", config.describe())

    from vidsearch.orchestrator.factory import build_orchestrator  # heavy: models + catalog

    with ExitStack() as resources:
        if args.with_tritonserver is not None:
            from vidsearch.inference.tritonserver import TritonServerProcess

            triton = resources.enter_context(
                TritonServerProcess(args.with_tritonserver, work_dir=Path("var/tritonserver"))
            )
            config.inference.backend = "triton"
            config.inference.triton_url = triton.grpc_url
            log.info("tritonserver ready", extra={"grpc": triton.grpc_url})
        orchestrator = build_orchestrator(config)
        if args.index_dir is not None:
            index_directory(orchestrator, args.index_dir)
        example = _example_query(args.index_dir)
        return _serve_until_signal(config, orchestrator, args.grace, example, args.review_port)


def _example_query(index_dir: Path | None) -> str:
    """A query file next to the indexed corpus, so the printed command works as is."""
    if index_dir is None:
        return "VIDEO_FILE"
    manifest = index_dir.parent / "manifest.json"
    if manifest.is_file():  # a generated corpus: suggest a query that copies a reference
        entries = json.loads(manifest.read_text()).get("queries", [])
        for entry in entries:
            if entry.get("positive"):
                return str(index_dir.parent / entry["path"])
    queries = index_dir.parent / "queries"
    if queries.is_dir():
        found = sorted(p for p in queries.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if found:
            return str(found[0])
    return "VIDEO_FILE"


def index_directory(orchestrator: Any, directory: Path) -> None:
    """Index the videos of a directory in-process, with a progress bar."""
    from tqdm import tqdm

    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    todo = [p for p in files if orchestrator.get_video(p.stem) is None]
    for path in tqdm(todo, desc=f"indexing {directory}", unit="video"):
        orchestrator.index_video(path, video_id=path.stem, title=path.stem, source=str(path))
    log.info("catalog ready", extra={"indexed_now": len(todo), "files": len(files)})


def _start_review(config: Any, target: str, port: int) -> Any:
    """The review page beside the server, calling it like any client would."""
    from vidsearch.review.server import settings_for, start_review

    return start_review(settings_for(config, target), config.server.host, port)


def _serve_until_signal(
    config: Any, orchestrator: Any, grace: float, example: str, review_port: int | None = None
) -> int:
    from vidsearch.service.server import build_server

    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        running = build_server(config, orchestrator)
        review = None if review_port is None else _start_review(
            config, running.target, review_port)
        text = getattr(orchestrator, "text_search_enabled", False)
        print(
            f"vidsearch is serving on {running.target} (metrics on :{running.metrics_port}).\n"
            f"Try:  .venv/bin/vidsearch search --target {running.target} --video {example}"
            + (f'\n      .venv/bin/vidsearch search --target {running.target} --text '
               f'"a red circle moves to the left"' if text else "")
            + (f"\nReview page (matches side by side): {review.url}" if review else ""),
            flush=True,
        )
        try:
            while not stop.wait(1.0):
                pass
        finally:
            if review is not None:
                review.stop()
            running.stop(grace=grace)
    finally:
        close = getattr(orchestrator, "close", None)
        if callable(close):
            close()
    return 0
