"""Fast hash/texture agreement check of a checkpoint, without export or a serving stack.

The benchmark's agreement figure (``agreement.py``) exports the model and runs it through
ONNX Runtime; iterating on stage 2 needs the same number in seconds. This decodes the
benchmark corpus once (the serving decoder: 1-fps key frames at the model size) into an
``.npz`` cache, then runs a PyTorch checkpoint on the cached frames and scores it with
the very same ``ranking_agreement``. Usage:

    python -m vidsearch.evaluation.quick_agreement CKPT [CKPT ...] --corpus var/bench/corpus
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from vidsearch.evaluation.agreement import Agreement, ranking_agreement
from vidsearch.training.checkpoint import load_checkpoint


def cache_keyframes(corpus_dir: Path, out: Path, frame_size: int = 64) -> Path:
    """Decode reference and positive-query key frames once (uint8) into ``out``."""
    from vidsearch.config import MediaConfig
    from vidsearch.media.corpus import load_manifest
    from vidsearch.orchestrator.encoding import FrameDecoder

    manifest = load_manifest(corpus_dir)
    decoder = FrameDecoder(MediaConfig(), frame_size)

    def decode(paths: list[Path]) -> np.ndarray:
        return np.concatenate([decoder(corpus_dir / p).frames for p in paths])

    refs = decode([Path(r.path) for r in manifest.references])
    queries = decode([Path(q.path) for q in manifest.queries if q.positive])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, refs=refs, queries=queries)
    return out


@torch.no_grad()
def encode(checkpoint: Path, frames: np.ndarray, batch: int = 256) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """(bits ±1, texture) per frame, as the served heads compute them (eval mode)."""
    model = load_checkpoint(checkpoint).build_model()
    bits, texture = [], []
    for start in range(0, len(frames), batch):
        tex, _, b = model(torch.from_numpy(frames[start:start + batch]))
        bits.append(b.numpy())
        texture.append(tex.numpy())
    return np.concatenate(bits).astype(np.float32), np.concatenate(texture)


def copied_frame_mask(corpus_dir: Path) -> np.ndarray:
    """Which cached query key frames lie inside the copied segment of their query.

    The 1-fps decoder samples frame i at i seconds and ceil(duration) frames per video,
    so frame i of a query is a copy when query_segment[0] <= i < query_segment[1]. Frames
    of an embedded query outside that segment are unrelated filler: their texture top-10
    is the order among frames that all look different, which no coarse filter needs.
    """
    from vidsearch.media.corpus import load_manifest

    mask: list[bool] = []
    for q in load_manifest(corpus_dir).queries:
        if not q.positive:
            continue
        seg = q.query_segment or (0.0, q.duration_s)
        times = np.arange(int(np.ceil(q.duration_s - 1e-9)))
        mask.extend(((times >= seg[0] - 1e-6) & (times < seg[1])).tolist())
    return np.asarray(mask, dtype=bool)


def checkpoint_agreement(checkpoint: Path, cache: Path,
                         query_mask: np.ndarray | None = None) -> Agreement:
    """The benchmark's agreement figure for ``checkpoint`` on the cached key frames
    (optionally on the query frames selected by ``query_mask`` only)."""
    data = np.load(cache)
    ref_bits, ref_tex = encode(checkpoint, data["refs"])
    queries = data["queries"] if query_mask is None else data["queries"][query_mask]
    q_bits, q_tex = encode(checkpoint, queries)
    return ranking_agreement(q_bits, q_tex, ref_bits, ref_tex)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--corpus", type=Path, default=Path("var/bench/corpus"))
    parser.add_argument("--cache", type=Path, default=None,
                        help="decoded key frames (default var/bench/keyframes_<size>.npz)")
    args = parser.parse_args(argv)
    # decoded at the model's own input size, as the serving decoder does
    size = int(load_checkpoint(args.checkpoints[0]).config["model"]["backbone"]["input_size"])
    if args.cache is None:
        args.cache = Path(f"var/bench/keyframes_{size}.npz")
    if not args.cache.is_file():
        cache_keyframes(args.corpus, args.cache, size)
    copied = copied_frame_mask(args.corpus)
    if len(copied) != len(np.load(args.cache)["queries"]):
        raise ValueError(f"{args.cache} does not match {args.corpus}: delete it to rebuild")
    for ck in args.checkpoints:
        for label, mask in (("all positive-query frames", None), ("copied frames only", copied)):
            a = checkpoint_agreement(ck, args.cache, mask)
            print(f"{ck} [{label}]: top10 overlap {a.top10_overlap:.3f}  texture top-10 in "
                  f"hash top-100 {a.texture_top10_in_hash_top100:.3f}  ({a.query_frames} q x "
                  f"{a.reference_frames} ref frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
