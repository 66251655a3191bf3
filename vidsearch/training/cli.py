"""`vidsearch train ...`: the training commands (copy detection, recommendations, text search,
tags, captions).

Heavy imports (torch, the trainers) happen inside the handlers so `vidsearch --help`
stays fast. Each handler returns a process exit code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vidsearch.cli_args import existing_file

DEFAULT_CONFIGS = Path("configs/training")
QUANT_LOSSES = ("formula7", "formula8", "fixed_margin")


def _stage_section(path: Path | None, kind: str) -> dict[str, Any]:
    """A stage's YAML; a starter YAML also works (its ``kind`` section + shared data)."""
    from vidsearch.training.config import load_yaml

    if path is None:
        default = DEFAULT_CONFIGS / f"{kind}.yaml"
        path = default if default.exists() else None
    if path is None:
        return {}
    obj = load_yaml(path)
    if isinstance(obj.get(kind), dict):
        section = dict(obj[kind])
        for key in ("data", "num_threads"):
            if key in obj and key not in section:
                section[key] = obj[key]
        return section
    return obj


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.threads is not None:
        out["num_threads"] = args.threads
    if getattr(args, "init_from", None):
        out["init_from"] = args.init_from
    if getattr(args, "quant_loss", None):
        out["quant_loss"] = args.quant_loss
    return out


def _cmd_barlow(args: argparse.Namespace) -> int:
    from vidsearch.training.barlow import train_barlow
    from vidsearch.training.config import BarlowConfig

    cfg = BarlowConfig.model_validate({**_stage_section(args.config, "barlow"),
                                       **_overrides(args)})
    train_barlow(cfg, Path(args.out) / "barlow.pt", resume=args.resume,
                 progress=not args.no_progress)
    return 0


def _cmd_stage1(args: argparse.Namespace) -> int:
    from vidsearch.training.config import Stage1Config
    from vidsearch.training.hashing import train_stage1

    cfg = Stage1Config.model_validate({**_stage_section(args.config, "stage1"),
                                       **_overrides(args)})
    train_stage1(cfg, Path(args.out) / "stage1.pt", resume=args.resume,
                 progress=not args.no_progress)
    return 0


def _cmd_stage2(args: argparse.Namespace) -> int:
    from vidsearch.training.config import Stage2Config
    from vidsearch.training.hashing import train_stage2
    from vidsearch.training.starter import stage2_filename

    cfg = Stage2Config.model_validate({**_stage_section(args.config, "stage2"),
                                       **_overrides(args)})
    train_stage2(cfg, Path(args.out) / stage2_filename(cfg.quant_loss), resume=args.resume,
                 progress=not args.no_progress)
    return 0


def _cmd_starter(args: argparse.Namespace) -> int:
    import json

    from vidsearch.training.config import StarterConfig
    from vidsearch.training.starter import run_starter

    cfg = StarterConfig.model_validate(_recipe(args, "starter.yaml"))
    variants = ["formula7", *(args.quant_loss or [])]
    summary = run_starter(cfg, args.out, resume=args.resume, quant_losses=variants,
                          progress=not args.no_progress)
    print(json.dumps({"seconds": summary["seconds"], "total_seconds": summary["total_seconds"]}))
    return 0


def _recipe(args: argparse.Namespace, default: str) -> dict[str, Any]:
    """A whole-recipe YAML (``--config`` or configs/training/DEFAULT) with ``--threads``."""
    from vidsearch.training.config import load_yaml

    path = args.config or DEFAULT_CONFIGS / default
    obj = load_yaml(path) if Path(path).exists() else {}
    if args.threads is not None:
        obj["num_threads"] = args.threads
    return obj


def _cmd_copy_release(args: argparse.Namespace) -> int:
    import json

    from vidsearch.training.config import CopyReleaseConfig
    from vidsearch.training.descriptor import run_copy_release

    obj = _recipe(args, "copy_release.yaml")
    summary = run_copy_release(CopyReleaseConfig.model_validate(obj), args.out,
                               resume=args.resume, progress=not args.no_progress)
    print(json.dumps({"seconds": summary["seconds"], "total_seconds": summary["total_seconds"]}))
    return 0


def _cmd_semantic(args: argparse.Namespace) -> int:
    import json

    from vidsearch.training.semantic import SemanticTrainConfig, train_semantic

    obj = _recipe(args, "semantic_release.yaml")
    _, metrics = train_semantic(SemanticTrainConfig.model_validate(obj),
                                Path(args.out) / "semantic.pt", resume=args.resume,
                                progress=not args.no_progress)
    print(json.dumps(metrics))
    return 0


def _cmd_text_release(args: argparse.Namespace) -> int:
    import json

    from vidsearch.training.text_release import TextReleaseConfig, run_text_release

    obj = _recipe(args, "text_release.yaml")
    summary = run_text_release(TextReleaseConfig.model_validate(obj), args.out,
                               resume=args.resume, progress=not args.no_progress)
    print(json.dumps({"seconds": summary["seconds"], "final": summary["final"]}))
    return 0


def _cmd_text_video(args: Any) -> int:
    import json

    from vidsearch.training.checkpoint import release_checkpoint
    from vidsearch.training.text_video import TextVideoTrainConfig, train_text_video

    obj = _recipe(args, "text_video.yaml")
    if args.init_frame_encoder:
        obj["init_frame_encoder"] = args.init_frame_encoder
    cfg = TextVideoTrainConfig.model_validate(obj)
    out = Path(args.out) / "text_video.pt"
    _, metrics = train_text_video(cfg, out, resume=args.resume, progress=not args.no_progress)
    if args.release:
        release_checkpoint(out)  # what ships carries no optimizer state
    print(json.dumps(metrics))
    return 0


def _cmd_tags(args: argparse.Namespace) -> int:
    import json

    from vidsearch.training.tag_training import TagTrainConfig, run_tag_training

    if args.resume:
        raise SystemExit("tag training does not resume: a run takes minutes, start it again")
    cfg = TagTrainConfig.model_validate(_recipe(args, "tags_starter.yaml"))
    summary = run_tag_training(cfg, args.out, progress=not args.no_progress)
    print(json.dumps({"seconds": summary["seconds"], "final": summary["final"]}))
    return 0


def _cmd_captioner(args: argparse.Namespace) -> int:
    import json

    from vidsearch.training.captioner import CaptionerTrainConfig, train_captioner

    if args.resume:
        raise SystemExit("captioner training does not resume: a run takes minutes, start it "
                         "again (the frame features stay cached)")
    cfg = CaptionerTrainConfig.model_validate(_recipe(args, "captioner_starter.yaml"))
    summary = train_captioner(cfg, args.out, progress=not args.no_progress)
    print(json.dumps({"seconds": summary["seconds"],
                      "final": {k: {m: v for m, v in r.items() if m != "examples"}
                                for k, r in summary["final"].items()}}))
    return 0


def _common(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--config", type=existing_file, default=None,
                   help="YAML config (default: configs/training/<command>.yaml if present)")
    p.add_argument("--out", default=default_out, help=f"output directory (default {default_out})")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")


def register(subparsers: Any) -> None:
    """Add `train` and its sub-commands to the top-level `vidsearch` parser."""
    train = subparsers.add_parser("train", help="train the vidsearch networks")
    sub = train.add_subparsers(dest="train_command", metavar="STAGE")
    train.set_defaults(func=lambda _a: (train.print_help(), 2)[1])

    p = sub.add_parser("barlow",
                       help="recommendation video embedder (Barlow Twins) -> OUT/barlow.pt")
    _common(p, "models/barlow")
    p.set_defaults(func=_cmd_barlow)

    p = sub.add_parser("stage1", help="near-duplicate search, stage 1: frame encoder + "
                                      "texture head -> OUT/stage1.pt")
    _common(p, "models/stage1")
    p.add_argument("--init-from", help="Barlow checkpoint initialising the image sub-model")
    p.set_defaults(func=_cmd_stage1)

    p = sub.add_parser("stage2", help="near-duplicate search, stage 2: 128-bit hash head "
                                      "-> OUT/video_hash*.pt")
    _common(p, "models/stage2")
    p.add_argument("--init-from", help="stage 1 checkpoint")
    p.add_argument("--quant-loss", choices=QUANT_LOSSES, help="override the config's quant_loss")
    p.set_defaults(func=_cmd_stage2)

    p = sub.add_parser("starter", help="whole recipe -> OUT/barlow.pt, OUT/video_hash.pt")
    _common(p, "models/starter")
    p.add_argument("--quant-loss", nargs="+", choices=QUANT_LOSSES[1:], default=None,
                   help="also train these stage 2 variants (video_hash_<variant>.pt)")
    p.set_defaults(func=_cmd_starter)

    p = sub.add_parser(
        "copy-release",
        help="copy descriptor (InfoNCE + KoLeo on procedural + photo videos) then the hash "
             "head -> OUT/video_hash.pt",
        description="The copy-detection release recipe: renders procedural videos and "
                    "videos filmed over the Debian wallpaper photographs (cached under "
                    "data.cache_dir by data version), trains the frame descriptor SSCD-style, "
                    "then the 128-bit hash head on the frozen descriptor. Writes "
                    "OUT/video_hash.pt and OUT/copy_release_summary.json (provenance).")
    _common(p, "models/copy_release")
    p.set_defaults(func=_cmd_copy_release)

    p = sub.add_parser(
        "semantic", help="semantic frame encoder (scene facts kept) -> OUT/semantic.pt",
        description="Trains the frame encoder that text search stands on to name each "
                    "scene's facts (texture; shapes' kind, colour, size, motion) on generated "
                    "videos; prints the held-out per-fact accuracy.")
    _common(p, "models/semantic")
    p.set_defaults(func=_cmd_semantic)

    p = sub.add_parser(
        "text-release",
        help="semantic encoder, then the text search heads on it -> OUT/text_video.pt",
        description="The text-search release recipe: renders generated videos (cached under "
                    "data.cache_dir), trains the semantic frame encoder, then the text -> "
                    "video heads on its frozen features. Writes OUT/text_video.pt (carries "
                    "the encoder; the one file to export), OUT/stages/semantic.pt and "
                    "OUT/text_release_summary.json.")
    _common(p, "models/text_release")
    p.set_defaults(func=_cmd_text_release)

    p = sub.add_parser("text-video", help="text search heads only -> OUT/text_video.pt")
    _common(p, "models/text_video")
    p.add_argument("--init-frame-encoder", help="video_hash/barlow checkpoint (frame encoder)")
    p.add_argument("--release", action="store_true",
                   help="drop the optimizer state when done (a third of the size; no resume)")
    p.set_defaults(func=_cmd_text_video)

    p = sub.add_parser(
        "tags", help="tag suggestion networks (video + tag encoders) -> OUT/tags.pt",
        description="Writes generated tagged videos (sound, narration, titles) and reads them "
                    "back through the serving decoders into cached frozen features (semantic "
                    "frame encoder, MFCC, MiniLM title), then trains the video network and "
                    "the tag projection by triplet loss with negative mining rounds. Writes "
                    "OUT/tags.pt (no optimizer state), OUT/tags.metrics.jsonl (per round: "
                    "zero-loss share, validation metrics) and OUT/tags_summary.json.")
    _common(p, "models/tags")
    p.set_defaults(func=_cmd_tags)

    p = sub.add_parser(
        "captioner", help="video captioner with a reconstructor -> OUT/captioner.pt",
        description="Captioner (attention or mean pooling LSTM decoder, global/local/no "
                    "reconstructor) on the frozen semantic frame features of generated "
                    "videos. Writes OUT/captioner.pt (no optimizer state), "
                    "OUT/captioner.metrics.jsonl (per epoch: losses, validation metrics) and "
                    "OUT/captioner_summary.json (test split, greedy and beam search).")
    _common(p, "models/captioner")
    p.set_defaults(func=_cmd_captioner)


def main(argv: list[str] | None = None) -> int:
    """`python -m vidsearch.training.cli semantic ...`: the training commands without the
    serving stack (gRPC, PyAV), for a training machine that has only torch (the GPU script)."""
    parser = argparse.ArgumentParser(prog="python -m vidsearch.training.cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
