"""`vidsearch <subcommand>`: one CLI for training, export, serving and the client calls.

Each room registers its own subcommands; heavy imports happen only when a command runs,
so `vidsearch --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# module path -> registers subcommands through `register(subparsers)`.
COMMAND_MODULES: tuple[str, ...] = (
    "vidsearch.training.cli",
    "vidsearch.media.corpus_cli",
    "vidsearch.evaluation.cli",
    "vidsearch.exporters.cli",
    "vidsearch.exporters.torchserve",
    "vidsearch.models_cli",
    "vidsearch.service.cli",
    "vidsearch.catalog_cli",
    "vidsearch.batch.cli",
    "vidsearch.service.auth_cli",
    "vidsearch.review.cli",
    "vidsearch.captions_cli",
    "vidsearch_client.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidsearch",
        description="Video retrieval: train, export, serve and query the vidsearch models.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a room not installed (e.g. client-only install)
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from vidsearch.config import ConfigFileError

    try:
        result = args.func(args)
    except ConfigFileError as exc:  # a setup mistake: one line, not a traceback
        print(f"vidsearch: error: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
