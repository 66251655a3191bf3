"""Training-only caption augmentation stays apart from the held-out wording."""

from __future__ import annotations

import re

import numpy as np

from vidsearch.training.caption_augment import EXTRA, augmented_captions, drop_words, stems
from vidsearch.training.captions import HELD_OUT, TRAIN, Wording, held_out_captions


def _phrases(w: Wording) -> set[str]:
    words = [*w.scene_templates, *w.shape_templates, *(x for o in w.orders for x in o if x),
             *w.intros, *w.short_links, w.empty_scene]
    for table in (w.shapes, w.sizes, w.motions, w.textures):
        words += [x for options in table.values() for x in options]
    return {re.sub(r"\{[a-z_]+\}", " ", p) for p in words}


def _stems(w: Wording) -> set[str]:
    return set().union(*(stems(p) for p in _phrases(w)))


def test_training_only_synonyms_share_no_stem_with_held_out_wording() -> None:
    """A word EXTRA adds to TRAIN never shares its first five letters with a held-out word
    (no 'chess-board' for 'chessboard'); only stems TRAIN already uses may recur."""
    added = _phrases(EXTRA) - _phrases(TRAIN)
    assert len(added) > 50
    held, trained = _stems(HELD_OUT), _stems(TRAIN)
    for phrase in added:
        assert stems(phrase) & held <= trained, phrase
    words = {p.strip(" ,:") for p in _phrases(EXTRA)} & {p.strip(" ,:") for p in _phrases(HELD_OUT)}
    assert not {w for w in words if len(w) > 2}


def test_augmented_captions_never_use_held_out_phrases() -> None:
    held = {p.strip(" ,:") for p in _phrases(HELD_OUT)}
    held = {p for p in held if len(p) > 4}
    for seed in range(40):
        augmented = augmented_captions(seed, 24.0, 6, drop_p=0.1)
        assert len(set(augmented)) == 6
        assert not set(augmented) & set(held_out_captions(seed, 24.0))
        for caption in augmented:
            assert not any(re.search(rf"\b{re.escape(p)}\b", caption.lower()) for p in held)


def test_augmented_captions_state_the_video_facts() -> None:
    from vidsearch.training.captions import describe_video

    seed = next(s for s in range(50) if describe_video(s, 24.0)[0].shapes)
    colour = describe_video(seed, 24.0)[0].shapes[0].colour
    assert any(colour in c for c in augmented_captions(seed, 24.0, 4))
    assert augmented_captions(seed, 24.0, 4) == augmented_captions(seed, 24.0, 4)


def test_word_dropout_keeps_order_and_at_least_one_word() -> None:
    rng = np.random.default_rng(0)
    text = "a big red disk moving right over a wavy background"
    dropped = drop_words(text, 0.3, rng)
    kept = dropped.split()
    assert 0 < len(kept) < len(text.split())
    it = iter(text.split())
    assert all(w in it for w in kept)  # a subsequence: order kept
    assert drop_words("one", 0.99, rng) == "one"
