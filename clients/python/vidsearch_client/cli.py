"""Command-line client: `vidsearch-client ...` standalone, or `vidsearch ...` subcommands.

Tables for people, ``--json`` for scripts: with ``--json`` stdout carries JSON only (a failed
call too: ``{"error": {...}}``) and everything for people goes to stderr. Exit status 0 on
success, 1 on a failed call (the error, its status code and request id go to stderr), 2 on
bad usage (including a TLS file that cannot be read).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import vidsearch_client
from vidsearch_client._channel import DEFAULT_TIMEOUT_S, TOKEN_ENV, default_target
from vidsearch_client.cli_output import (
    VIDEO_HEADERS,
    emit,
    error_json,
    info,
    search_table,
    sentence_table,
    show_progress,
    table,
    text_table,
    video_rows,
)
from vidsearch_client.client import VideoSearchClient
from vidsearch_client.errors import VidsearchError
from vidsearch_client.tags_cli import register_tags
from vidsearch_client.types import (
    SEARCH_MODES,
    IndexItem,
    IndexOutcome,
    SearchResult,
    to_jsonable,
)

Handler = Callable[[argparse.Namespace, VideoSearchClient], int]

# The shared flags' real defaults. Their argparse default is SUPPRESS (see _common), so
# ``_run`` fills these in for whatever was given neither before nor after the subcommand.
_DEFAULTS: dict[str, Any] = {
    "target": None,
    "timeout": DEFAULT_TIMEOUT_S,
    "token": None,
    "tls": False,
    "ca_cert": None,
    "client_cert": None,
    "client_key": None,
    "json": False,
    "quiet": False,
}


def _common() -> argparse.ArgumentParser:
    """Connection and output flags, defined once: the parent of the top-level parser and of
    every subcommand, so they work before or after it. Defaults are SUPPRESS because
    argparse copies every attribute a subcommand's parser sets over the top-level ones:
    a default there would overwrite ``--target`` given before the subcommand."""
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    conn = common.add_argument_group("connection")
    conn.add_argument(
        "--target", help="server host:port (default: $VIDSEARCH_TARGET or 127.0.0.1:50051)"
    )
    conn.add_argument(
        "--timeout", type=float, help=f"deadline per call, seconds (default {DEFAULT_TIMEOUT_S:g})"
    )
    conn.add_argument("--token", help=f"bearer token (default: ${TOKEN_ENV})")
    conn.add_argument("--tls", action="store_true", help="use TLS with the system roots")
    conn.add_argument(
        "--ca-cert", type=Path, metavar="FILE", help="PEM root certificates (implies --tls)"
    )
    conn.add_argument(
        "--client-cert",
        type=Path,
        metavar="FILE",
        help="PEM client certificate for mutual TLS (with --client-key; implies --tls)",
    )
    conn.add_argument(
        "--client-key", type=Path, metavar="FILE", help="PEM private key of --client-cert"
    )
    out = common.add_argument_group("output")
    out.add_argument(
        "--json",
        action="store_true",
        help="JSON on stdout, nothing else there (messages and errors go to stderr)",
    )
    out.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar, no informational messages"
    )
    return common


def _with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    for name, value in _DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, value)
    return args


class UsageError(Exception):
    """A mistake in the command line found after parsing: one line on stderr, exit 2."""


def _read_pem(path: Path | None, flag: str) -> bytes | None:
    """The file's bytes, or a UsageError naming the flag (never a traceback)."""
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {flag} {path}: {exc.strerror or exc}") from exc
    if b"-----BEGIN " not in data:
        raise UsageError(f"{flag} {path} is not a PEM file")
    return data


def _tls_settings(args: argparse.Namespace) -> dict[str, Any]:
    """VideoSearchClient TLS keyword arguments from the flags (files read here)."""
    if (args.client_cert is None) != (args.client_key is None):
        raise UsageError("--client-cert and --client-key go together (mutual TLS needs both)")
    ca = _read_pem(args.ca_cert, "--ca-cert")
    cert = _read_pem(args.client_cert, "--client-cert")
    key = _read_pem(args.client_key, "--client-key")
    return {
        "secure": bool(args.tls or ca is not None or cert is not None),
        "root_certificates": ca,
        "certificate_chain": cert,
        "private_key": key,
    }


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


# -- commands -------------------------------------------------------------------------------
def _video_id(path: Path, how: str) -> str:
    return {"name": path.name, "stem": path.stem, "path": str(path)}[how]


def cmd_index(args: argparse.Namespace, client: VideoSearchClient) -> int:
    """Index the files, ``--jobs`` uploads at a time (the server decodes and encodes them
    side by side); one that fails is reported (also in --json) and the rest go on."""
    from tqdm import tqdm

    tags = tuple(t.strip() for group in args.tags or () for t in group.split(",") if t.strip())
    items = [IndexItem(path, _video_id(path, args.id_from), args.title or path.stem, tags)
             for path in args.paths]  # fmt: skip
    bar = tqdm(total=len(items), unit="file", disable=not show_progress(args, len(items)),
               file=sys.stderr)  # fmt: skip

    def progress(done: int, total: int, outcome: IndexOutcome) -> None:
        if outcome.error is not None:
            tqdm.write(f"error: {os.fsdecode(outcome.item.path)}: {outcome.error}",
                       file=sys.stderr)  # fmt: skip
        bar.update(1)

    with bar:
        outcomes = client.index_many(items, concurrency=args.jobs, progress=progress)
    entries: list[dict[str, Any]] = []  # --json: one per file, in the order given
    rows: list[list[Any]] = []
    for outcome in outcomes:
        path, result = os.fsdecode(outcome.item.path), outcome.result
        if outcome.error is not None:
            entries.append({"path": path, "video_id": outcome.item.video_id,
                            "error": error_json(outcome.error)})  # fmt: skip
            continue
        assert result is not None  # index_many: an outcome without an error has a result
        entries.append({"path": path, **to_jsonable(result)})
        rows.append([*video_rows([result.video])[0], "yes" if result.replaced else "no"])
    emit(args, entries, lambda: table((*VIDEO_HEADERS, "replaced"), rows))
    failures = len(items) - len(rows)
    info(args, f"indexed {len(rows)} of {len(items)} file(s)"
          + (f", {failures} failed" if failures else ""))  # fmt: skip
    return 1 if failures else 0


def search_sentences(args: argparse.Namespace, client: VideoSearchClient) -> SearchResult:
    """The search ``--sentence`` or ``--audio`` asks for."""
    options: dict[str, Any] = {"top_k": args.top_k, "candidates": args.candidates}
    if args.sentence is not None:
        return client.search_sentence(args.sentence, **options)
    return client.search_audio(args.audio, **options)


def cmd_search(args: argparse.Namespace, client: VideoSearchClient) -> int:
    if args.sentence is not None or args.audio is not None:
        found = search_sentences(args, client)
        emit(args, found, lambda: sentence_table(found))
        return 0
    if args.text is not None:
        result = client.search_text(
            args.text, top_k=args.top_k, candidates=args.candidates, rerank=args.rerank,
            keyword_enhancement=args.keywords, model_version=args.model_version,
        )  # fmt: skip
        emit(args, result, lambda: text_table(result))
        return 0
    options = {
        "mode": args.mode, "top_k": args.top_k, "max_hamming": args.max_hamming,
        "coarse_limit": args.coarse_limit, "max_texture_distance": args.max_texture_distance,
        "min_repetition": args.min_repetition, "model_version": args.model_version,
    }  # fmt: skip
    if args.video is not None:
        result = client.search_video(args.video, **options)
    else:
        result = client.search_uri(args.uri, **options)
    emit(args, result, lambda: search_table(result))
    return 0


def cmd_recommend(args: argparse.Namespace, client: VideoSearchClient) -> int:
    found = client.recommend(args.video_id, args.k)
    rows = [[n.video.video_id, n.score, n.video.duration_s, n.video.title] for n in found]
    emit(args, found, lambda: table(("video_id", "score", "duration_s", "title"), rows))
    return 0


def cmd_get(args: argparse.Namespace, client: VideoSearchClient) -> int:
    info = client.get(args.video_id)
    emit(args, info, lambda: table(VIDEO_HEADERS, video_rows([info])))
    return 0


def cmd_delete(args: argparse.Namespace, client: VideoSearchClient) -> int:
    deleted = client.delete(args.video_id)
    emit(args, {"video_id": args.video_id, "deleted": deleted},
          lambda: f"{args.video_id}: {'deleted' if deleted else 'was not indexed'}")  # fmt: skip
    return 0


def cmd_stats(args: argparse.Namespace, client: VideoSearchClient) -> int:
    stats = client.stats()
    emit(args, stats, lambda: table(("field", "value"), list(to_jsonable(stats).items())))
    return 0


def cmd_health(args: argparse.Namespace, client: VideoSearchClient) -> int:
    status = client.health(args.service)
    emit(args, {"service": args.service, "status": status}, lambda: status)
    return 0 if status == "SERVING" else 1


# -- wiring ---------------------------------------------------------------------------------
def _run(handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        _with_defaults(args)
        try:
            tls = _tls_settings(args)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            with VideoSearchClient(
                args.target or default_target(),
                timeout=args.timeout,
                token=args.token or os.environ.get(TOKEN_ENV) or None,
                **tls,
            ) as client:
                return handler(args, client)
        except (VidsearchError, OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"error": error_json(exc)}, indent=2))
            return 1

    return run


def register(subparsers: Any) -> None:
    """Add index, search, recommend, get, delete, stats, health and tags subcommands."""
    common = _common()

    def add_to(
        where: Any, name: str, handler: Handler, help_: str, description: str
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = where.add_parser(
            name, parents=[common], help=help_, description=description
        )
        parser.set_defaults(func=_run(handler))
        return parser

    def add(name: str, handler: Handler, help_: str, description: str) -> argparse.ArgumentParser:
        return add_to(subparsers, name, handler, help_, description)

    p = add(
        "index",
        cmd_index,
        "upload and index video files",
        "Upload each file (chunked, SHA-256 checked) and index it; on a terminal a "
        "progress bar runs over the files. An existing id is replaced. A file that fails "
        "is reported (with --json: in the output, with its error), the others go on, and "
        "the exit status is 1.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="video files")
    p.add_argument(
        "--id-from",
        choices=("name", "stem", "path"),
        default="name",
        help="video id from the file name (default), name without suffix, or path",
    )
    p.add_argument("--title", default=None, help="title for every file (default: file stem)")
    p.add_argument("--tags", action="append", help="comma-separated tags (repeatable)")
    p.add_argument("--jobs", type=_positive_int, default=2, metavar="N",
                   help="files uploaded and indexed at a time (default: 2)")

    p = add(
        "search",
        cmd_search,
        "find indexed videos matching a query video or a sentence",
        "Upload a query video (or name one the server can read with --uri) and list the "
        "matching indexed videos, best first; or describe the video in words with --text "
        '(e.g. --text "a red circle moves left"), match the videos\' generated captions with '
        "--sentence, or say it (--audio FILE). Unset options use the server defaults.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", type=Path, metavar="FILE", help="local query video")
    source.add_argument("--uri", help="path or file:// URI readable by the server")
    source.add_argument("--text", help="sentence describing the video (SearchByText)")
    source.add_argument("--sentence", help="sentence matched against the videos' generated "
                        "captions (SearchBySentence)")
    source.add_argument("--audio", type=Path, metavar="FILE", help="spoken query (WAV, MP3, "
                        "AAC, Opus) recognised, then searched as --sentence (SearchByAudio)")
    p.add_argument("--mode", choices=SEARCH_MODES,
                   help="texture: near-duplicate search (whole videos by texture distance); "
                   "duration: duration matching (clips inside longer videos, with segments); "
                   "keyframe: key-frame matching (near hash codes alone)")
    p.add_argument("--top-k", type=int, help="hits returned (1-1000)")
    p.add_argument("--max-hamming", type=int, help="coarse filter Hamming radius (0-128)")
    p.add_argument("--coarse-limit", type=int, help="candidates kept by the coarse filter")
    p.add_argument("--max-texture-distance", type=float, help="drop hits farther than this")
    p.add_argument("--min-repetition", type=float, help="minimum repetition degree (0-1)")
    p.add_argument("--model-version", type=int, help="model version to query with")
    text = p.add_argument_group("--text, --sentence and --audio options")
    text.add_argument("--candidates", type=int, help="--text: stage 1 shortlist rescored; "
                      "--sentence/--audio: videos each ranking brings to the fusion (1-1000)")
    text.add_argument("--rerank", action=argparse.BooleanOptionalAction, default=None,
                      help="run the text-conditioned stage 2 (default: server's)")
    text.add_argument("--keywords", action=argparse.BooleanOptionalAction, default=None,
                      help="keyword enhancement in stage 2 (default: server's)")

    p = add(
        "recommend",
        cmd_recommend,
        "videos similar to an indexed one",
        "List the indexed videos most similar to VIDEO_ID (recommendations by the "
        "videos' self-supervised embeddings).",
    )
    p.add_argument("video_id", metavar="VIDEO_ID")
    p.add_argument("--k", type=int, default=5, help="neighbours returned (1-100, default 5)")

    p = add("get", cmd_get, "show an indexed video", "Show the stored metadata of VIDEO_ID.")
    p.add_argument("video_id", metavar="VIDEO_ID")
    p = add("delete", cmd_delete, "remove an indexed video", "Remove VIDEO_ID from the catalog.")
    p.add_argument("video_id", metavar="VIDEO_ID")

    add("stats", cmd_stats, "catalog size and serving model", "Show catalog and model info.")
    p = add(
        "health",
        cmd_health,
        "check server health",
        "Query the standard gRPC health service; exit 0 only when SERVING.",
    )
    p.add_argument("--service", default="", help="service name (default: the whole server)")

    register_tags(add_to, subparsers, parents=[common])


def client_version() -> str:
    """The installed distribution's version (the source tree's when not installed)."""
    try:
        return importlib.metadata.version("vidsearch-client")
    except importlib.metadata.PackageNotFoundError:
        return vidsearch_client.__version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the standalone `vidsearch-client` script."""
    parser = argparse.ArgumentParser(
        prog="vidsearch-client",
        description="Query a vidsearch server over gRPC. Connection and output flags go "
        "before or after the command.",
        parents=[_common()],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {client_version()}")
    register(parser.add_subparsers(dest="command", metavar="COMMAND"))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
