"""`vidsearch tags suggest|add|rm|ls|apply`: the live tag library from the command line.

Kept apart from ``cli`` (the video commands); it plugs into the same parser with the same
connection options, output (table or ``--json``) and exit statuses.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vidsearch_client.cli_output import emit, table
from vidsearch_client.client import VideoSearchClient


def register_tags(add: Callable[..., argparse.ArgumentParser], subparsers: Any,
                  parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """The ``tags`` command and its five subcommands; ``add`` wires a handler as in cli.

    ``parents`` (cli's shared flags) also go on ``tags`` itself, so ``tags --json ls`` works
    like ``--json tags ls`` and ``tags ls --json``."""
    top = subparsers.add_parser(
        "tags", parents=list(parents), help="tag suggestions and the live tag library",
        description="Suggest tags for videos from a tag library that changes while the "
        "server runs: a tag added here is used by the very next suggestion, a removed one "
        "never again (no restart, no retraining).")
    top.set_defaults(func=lambda _args: (top.print_help(), 2)[1])
    sub = top.add_subparsers(dest="tags_command", metavar="COMMAND")

    def suggest(args: argparse.Namespace, client: VideoSearchClient) -> int:
        opts = {"top_k": args.top_k, "max_distance": args.max_distance}
        found = (client.suggest_tags_for_video(args.video, **opts) if args.video
                 else client.suggest_tags(args.video_id, **opts))
        emit(args, found, lambda: table(("tag", "distance"),
                                        [[s.tag.text, s.distance] for s in found.tags]))
        return 0

    p = add(sub, "suggest", suggest, "tags nearest to a video",
            "List the library's tags nearest to an indexed VIDEO_ID (its stored tag feature, "
            "no decode) or to a local --video file, nearest first, with distances "
            "(1 - similarity).")
    p.add_argument("video_id", metavar="VIDEO_ID", nargs="?", default="",
                   help="an indexed video (or give --video)")
    p.add_argument("--video", type=Path, metavar="FILE", help="a local video to upload instead")
    p.add_argument("--top-k", type=int, help="tags returned (1-100, server default 10)")
    p.add_argument("--max-distance", type=float,
                   help="drop tags farther than this distance (1 - similarity, 0-2)")

    def add_tags(args: argparse.Namespace, client: VideoSearchClient) -> int:
        added = client.add_tags(args.tags, source=args.source)
        result = {"added": added, "replaced": len(args.tags) - added}
        emit(args, result, lambda: f"added {added}, replaced {len(args.tags) - added}")
        return 0

    p = add(sub, "add", add_tags, "add tags to the library",
            "Add TAGs to the library (re-adding one replaces its vector and keeps when it "
            "was created). Each tag: 1-100 characters; quote tags with spaces.")
    p.add_argument("tags", nargs="+", metavar="TAG")
    p.add_argument("--source", default="cli", help="who added them (default: cli)")

    def remove(args: argparse.Namespace, client: VideoSearchClient) -> int:
        missing = client.delete_tags(args.tags)
        result = {"deleted": len(args.tags) - len(missing), "missing": missing}
        emit(args, result, lambda: f"deleted {result['deleted']}" + (
            f"; not in the library: {', '.join(missing)}" if missing else ""))
        return 0

    p = add(sub, "rm", remove, "remove tags from the library",
            "Remove TAGs from the library; they are never suggested again.")
    p.add_argument("tags", nargs="+", metavar="TAG")

    def listing(args: argparse.Namespace, client: VideoSearchClient) -> int:
        page = client.list_tags(args.page_size, args.page_token)
        emit(args, page, lambda: table(
            ("tag", "created_at", "source"),
            [[t.text, t.created_at, t.source] for t in page.tags])
            + (f"\nnext page: --page-token {page.next_page_token}"
               if page.next_page_token else ""))
        return 0

    p = add(sub, "ls", listing, "list the tag library",
            "List the library a page at a time; pass the printed --page-token for the next.")
    p.add_argument("--page-size", type=int, help="tags per page (1-1000, default 100)")
    p.add_argument("--page-token", default="", help="from the previous page")

    def apply(args: argparse.Namespace, client: VideoSearchClient) -> int:
        done = client.tag_videos(args.max_videos, top_k=args.top_k,
                                 max_distance=args.max_distance)
        emit(args, done, lambda: table(("video_id", "tags"), [list(v) for v in done.videos])
             + f"\nuntagged videos left: {done.untagged_left}")
        return 0

    p = add(sub, "apply", apply, "store suggested tags on untagged videos",
            "The labelling worker: give up to --max-videos untagged indexed videos their "
            "suggested tags and store them on the videos. Run it again to go on where it "
            "stopped (tagged videos are skipped).")
    p.add_argument("--max-videos", type=int, help="videos visited per run (default 100)")
    p.add_argument("--top-k", type=int, help="tags stored per video (1-100)")
    p.add_argument("--max-distance", type=float,
                   help="only tags within this distance (1 - similarity, 0-2)")
