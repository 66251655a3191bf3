"""``vidsearch catalog backup|restore``: the whole catalog to one archive file and back.

    vidsearch catalog backup  --out FILE [--config CONFIG.yaml]
    vidsearch catalog restore FILE [--force] [--config CONFIG.yaml]

The archive format and its checks: ``vidsearch.catalog.snapshots``. Exit status 0 on
success, 1 with a message saying what to do otherwise; a refused restore leaves the
catalog as it was.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from vidsearch.cli_args import existing_file

_CONFIG_HELP = "YAML config file (default: $VIDSEARCH_CONFIG); catalog.* picks the catalog"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "catalog",
        help="back up or restore the catalog, or fill its background set",
        description=(
            "Back up the configured catalog (Qdrant Edge directory or Qdrant cluster "
            "collections) to one archive file, or restore one. The archive holds every "
            "committed point plus a manifest (point counts, model versions, vector sizes, "
            "created_at, SHA-256 of every chunk) that a restore checks before it changes "
            "anything; it restores into either backend."
        ),
    )
    actions = parser.add_subparsers(dest="catalog_action", metavar="ACTION", required=True)
    backup = actions.add_parser(
        "backup",
        help="write the catalog to an archive file",
        description=(
            "Write the catalog to FILE (via FILE.partial, renamed when complete). An "
            "embedded (qdrant_edge) catalog belongs to one process: stop the server first. "
            "For a cluster, stop indexing first: a video re-indexed during the backup "
            "fails it rather than being stored half old, half new."
        ),
    )
    backup.add_argument("--out", type=Path, required=True, metavar="FILE", help="archive to write")
    backup.add_argument("--config", type=existing_file, default=None, help=_CONFIG_HELP)
    backup.set_defaults(func=backup_command)
    restore = actions.add_parser(
        "restore",
        help="replace the catalog with an archive",
        description=(
            "Check FILE against its manifest, then load it. An embedded catalog is built "
            "beside the live directory and swapped in by rename (a crash leaves the old "
            "catalog or the new one); cluster collections are recreated and loaded key "
            "frames first (a crash leaves complete videos only: restore again with --force)."
        ),
    )
    restore.add_argument("snapshot", type=Path, metavar="FILE", help="archive from `backup`")
    restore.add_argument(
        "--force", action="store_true", help="replace a catalog that already holds videos"
    )
    restore.add_argument("--config", type=existing_file, default=None, help=_CONFIG_HELP)
    restore.set_defaults(func=restore_command)
    background = actions.add_parser(
        "background",
        help="fill the background catalog used for score normalisation",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Render N synthetic videos from their own seed range (BACKGROUND_SEEDS, disjoint\n"
            "from training and benchmark videos) and index them, through the normal decoder\n"
            "and encoder, into the BACKGROUND catalog: a second catalog of the configured\n"
            "backend (qdrant_edge: catalog.background_path, default <catalog.path>-background;\n"
            "qdrant_cluster/qdrant_local: collections <catalog.background_prefix>_*, default\n"
            "<collection_prefix>_background). Searches never return its videos; with\n"
            "search.normalise on, each query frame's similarities are lowered by its\n"
            "similarity to its k-th nearest background key frame (search.normalise_k), which\n"
            "makes scores comparable across queries. Until it holds k key frames, searches\n"
            "run unnormalised (logged once).\n\n"
            "Re-running with the same --first replaces those videos (do so after a model\n"
            "upgrade: a background from another model version is not used); use another\n"
            "--first to add more. An embedded (qdrant_edge) background belongs to one\n"
            "process: stop the server, fill it, start the server again."
        ),
    )
    background.add_argument(
        "--videos", type=int, required=True, metavar="N", help="background videos to index"
    )
    background.add_argument(
        "--first", type=int, default=0, metavar="I",
        help="first seed offset in the background range (default 0)",
    )
    background.add_argument("--config", type=existing_file, default=None, help=_CONFIG_HELP)
    background.add_argument("--no-progress", action="store_true", help="no progress bar")
    background.set_defaults(func=background_command)


class _ProgressPrinter:
    """At most one progress line per second per store, on stderr."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def __call__(self, store: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last.get(store, 0.0) < 1.0 and done != total:
            return
        self._last[store] = now
        of = f"/{total}" if total else ""
        print(f"  {store}: {done}{of} points", file=sys.stderr, flush=True)


def _where(config: Any) -> str:
    cat = config.catalog
    if cat.backend == "qdrant_cluster":
        return f"{cat.url} (collections {cat.collection_prefix}_*)"
    return f"{cat.path} ({cat.backend})"


def _run(args: argparse.Namespace, action: str) -> int:
    from vidsearch.catalog import (
        CatalogError,
        CatalogNotEmptyError,
        CatalogSnapshots,
        CatalogUnavailableError,
        SnapshotError,
        open_catalog,
    )
    from vidsearch.config import load_config

    try:
        config = load_config(args.config)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = _where(config)
    untouched, hint = "", ""
    if action == "restore":
        untouched = " The catalog was not changed."
        hint = " Use an intact archive written by `vidsearch catalog backup`."
    try:
        catalog = open_catalog(config.catalog, texture_dim=None, embedding_dim=None)
    except CatalogUnavailableError as exc:
        print(
            f"error: cannot open the catalog at {where}: {exc}. An embedded catalog belongs "
            "to one process: stop the server using it, then run this again.",
            file=sys.stderr,
        )
        return 1
    try:
        assert isinstance(catalog, CatalogSnapshots)
        progress = _ProgressPrinter()
        if action == "backup":
            print(f"backing up {where} to {args.out}", file=sys.stderr)
            manifest = catalog.snapshot(args.out, progress=progress)
            verb, place = "backed up", f"to {args.out}"
        else:
            print(f"restoring {args.snapshot} into {where}", file=sys.stderr)
            manifest = catalog.restore(args.snapshot, force=args.force, progress=progress)
            verb, place = "restored", f"from {args.snapshot} into {where}"
    except CatalogNotEmptyError as exc:
        print(f"error: {exc}.{untouched}", file=sys.stderr)
        return 1
    except SnapshotError as exc:
        print(f"error: {exc}.{untouched}{hint}", file=sys.stderr)
        return 1
    except (CatalogError, OSError) as exc:  # e.g. store errors, a full disk
        print(f"error: {action} of {where} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        catalog.close()
    versions = ", ".join(str(v) for v in manifest.model_versions) or "none"
    print(
        f"{verb} {manifest.points['videos']} videos and {manifest.points['keyframes']} key "
        f"frames (model versions {versions}; content sha256 {manifest.sha256[:16]}) {place}"
    )
    return 0


def backup_command(args: argparse.Namespace) -> int:
    """`catalog backup`: refuses to overwrite an existing file (it may be the last good one)."""
    if args.out.exists():
        print(f"error: {args.out} exists; choose another name or remove it", file=sys.stderr)
        return 1
    if not args.out.parent.is_dir():
        print(f"error: directory {args.out.parent} does not exist", file=sys.stderr)
        return 1
    return _run(args, "backup")


def restore_command(args: argparse.Namespace) -> int:
    return _run(args, "restore")


def background_command(args: argparse.Namespace) -> int:
    """`catalog background`: index N generated videos into the background catalog."""
    from tqdm import tqdm

    from vidsearch.catalog import CatalogError, CatalogUnavailableError
    from vidsearch.config import load_config
    from vidsearch.orchestrator.background import background_config, fill_background

    if args.videos < 1 or args.first < 0:
        print("error: --videos must be >= 1 and --first >= 0", file=sys.stderr)
        return 1
    try:
        config = load_config(args.config)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = _where(background_config(config))
    print(f"indexing {args.videos} background videos into {where}", file=sys.stderr)
    bar = tqdm(total=args.videos, desc="background videos", unit="video",
               disable=args.no_progress)
    try:
        with bar:
            frames = fill_background(
                config, args.videos, first=args.first, on_video=lambda _: bar.update()
            )
    except CatalogUnavailableError as exc:
        print(
            f"error: cannot open the background catalog at {where}: {exc}. An embedded "
            "catalog belongs to one process: stop the server using it, then run this again.",
            file=sys.stderr,
        )
        return 1
    except (CatalogError, OSError, RuntimeError) as exc:
        print(f"error: filling the background at {where} failed: {exc}", file=sys.stderr)
        return 1
    print(f"the background catalog at {where} holds {frames} key frames")
    return 0
