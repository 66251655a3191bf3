"""`vidsearch caption VIDEO`: the sentence the served captioner writes for a local video.

It runs the same path as indexing (the decode sandbox, ``caption_encoder``, beam search
over ``caption_step``) on the model repository (or Triton) the config names, without a
server or a catalog: a quick look at what a video would be indexed with.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from vidsearch.cli_args import existing_file


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "caption", help="print the generated sentence of a local video",
        description="Decode VIDEO as indexing does and print the sentence the served "
        "captioner (caption_encoder + caption_step) generates for it. Settings come from "
        "--config (or $VIDSEARCH_CONFIG) and VIDSEARCH_* variables, e.g. "
        "VIDSEARCH_CAPTIONS__BEAM=1 for greedy decoding.")
    parser.add_argument("video", type=existing_file, metavar="VIDEO")
    parser.add_argument("--config", type=existing_file, default=None, help="YAML config file")
    parser.add_argument("--beam", type=int, default=None, help="beam width (1: greedy)")
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vidsearch.config import load_config
    from vidsearch.inference.factory import build_backend
    from vidsearch.media.errors import MediaError
    from vidsearch.orchestrator.captions import CaptionModels, serves_caption_models
    from vidsearch.orchestrator.encoding import FrameDecoder

    config = load_config(args.config)
    if args.beam is not None:
        config.captions.beam = args.beam
    backend = build_backend(config.inference)
    try:
        if not serves_caption_models(backend):
            print("vidsearch: error: the model repository serves no caption_encoder and "
                  "caption_step; export them with `vidsearch export --family captions "
                  "--checkpoint models/starter/captioner.pt`", file=sys.stderr)
            return 2
        models = CaptionModels(backend, config.captions, config.inference.model_repository,
                               config.inference.timeout_s)
        version = models.resolved_version()
        try:
            frames = FrameDecoder(config.media, models.frame_size)(Path(args.video))
        except MediaError as exc:
            print(f"vidsearch: error: {exc}", file=sys.stderr)
            return 1
        start = time.perf_counter()
        caption = models.caption(frames.frames, version)
        seconds = time.perf_counter() - start
    finally:
        backend.close()
    if args.json:
        print(json.dumps({"video": str(args.video), "caption": caption,
                          "caption_model_version": version, "frames": len(frames.frames),
                          "caption_seconds": round(seconds, 4)}))
    else:
        print(caption)
    return 0
