"""``vidsearch export``: checkpoints -> verified ONNX -> Triton repository (+ CPU twin).

    vidsearch export --checkpoint PATH --family NAME [--repository model_repository]
                     [--cpu-twin var/model_repository_cpu] [--force]
    vidsearch export starter --checkpoints models/starter [--if-missing] ...

``starter`` exports every ``*.pt`` checkpoint of a folder under one version number,
picking each checkpoint's family from its ``kind``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vidsearch.cli_args import existing_dir, existing_file


def register(subparsers: Any) -> None:
    """Add the ``export`` subcommand (heavy imports happen when it runs)."""
    parser = subparsers.add_parser(
        "export",
        help="export checkpoints to the Triton model repository (+ CPU twin)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target", nargs="?", choices=["starter"], help="'starter': every checkpoint of a folder"
    )
    parser.add_argument("--checkpoint", type=existing_file, help="checkpoint file to export")
    parser.add_argument("--checkpoints", type=existing_dir, help="folder of checkpoints (starter)")
    parser.add_argument("--family", help="model family (video_hash, video_embedder, toy)")
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--cpu-twin", type=Path, default=None, help="also write the CPU twin here")
    parser.add_argument("--version", type=int, default=None, help="default: next free version")
    parser.add_argument("--force", action="store_true", help="allow overwriting a version")
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="skip when every model's latest version came from these checkpoints and this "
        "exporter code (else export them all again, under one new version)",
    )
    parser.add_argument("--tensorrt", action="store_true", help="add the TensorRT accelerator")
    parser.add_argument("--dynamo", action="store_true", help="use the dynamo ONNX exporter")
    parser.add_argument("--num-versions", type=int, default=2, help="versions Triton keeps loaded")
    parser.set_defaults(func=run)


def _families(args: argparse.Namespace) -> list[Any]:
    from vidsearch.exporters.families import family_for_kind, get_family
    from vidsearch.training.checkpoint import load_checkpoint

    if args.target == "starter":
        if args.checkpoints is None or not args.checkpoints.is_dir():
            raise SystemExit(f"--checkpoints must be a folder (got {args.checkpoints})")
        paths = sorted(args.checkpoints.glob("*.pt"))
        if not paths:
            raise SystemExit(f"no *.pt checkpoint in {args.checkpoints}")
        specs = [(family_for_kind(load_checkpoint(p).kind), p) for p in paths]
    else:
        if not args.family:
            raise SystemExit("--family is required (or use: vidsearch export starter)")
        spec = get_family(args.family)
        if spec.needs_checkpoint and args.checkpoint is None:
            raise SystemExit(f"family {args.family!r} needs --checkpoint")
        specs = [(spec, args.checkpoint)]
    return specs


def run(args: argparse.Namespace) -> int:
    from vidsearch.exporters.cpu_twin import sync_cpu_twin
    from vidsearch.exporters.pipeline import export_models, stale_models, summary

    specs = _families(args)
    served = {name: path for spec, path in specs for name in spec.served}
    if args.if_missing:
        stale = stale_models(args.repository, served)
        if not stale:
            print(f"every model is up to date in {args.repository}: {list(served)}")
            if args.cpu_twin is not None:
                sync_cpu_twin(args.repository, args.cpu_twin, list(served))
            return 0
        # One new version for all: the orchestrator pins one model_version for its models.
        for name, reason in stale.items():
            print(f"exporting again, {name}: {reason}", file=sys.stderr)
    loaded = [spec.loader(path, 0) for spec, path in specs]
    exported = export_models(
        loaded,
        args.repository,
        cpu_twin=args.cpu_twin,
        version=args.version,
        force=args.force,
        tensorrt=args.tensorrt,
        dynamo=args.dynamo,
        num_versions=args.num_versions,
    )
    json.dump(summary(exported), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
