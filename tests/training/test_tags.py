"""Tag vocabulary, ground truth, titles and narration of the generated videos."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsearch.media.audio import decode_audio
from vidsearch.media.subtitles import read_subtitles
from vidsearch.media.synthetic_audio import espeak_available
from vidsearch.training import captions, tags
from vidsearch.training.facts import SceneFacts, ShapeFacts, describe_video

SEEDS = range(300)
DURATION = 20.0


def test_vocabulary_size_and_kinds() -> None:
    canonical = [t for t in tags.VOCABULARY if t.kind != "distractor"]
    assert 140 <= len({t.facts for t in canonical}) <= 170  # ~150 meanings
    assert len(tags.HOT_TAGS) >= 30 and len(tags.DISTRACTOR_TAGS) >= 10
    assert {t.text for t in tags.VOCABULARY} >= {"red", "ring", "red ring", "spinning",
                                                 "striped background", "donut", "large ring"}


def test_hot_tags_never_overlap_training_tags() -> None:
    train_texts = {t.text for t in tags.TRAIN_TAGS}
    assert train_texts.isdisjoint(t.text for t in tags.HOT_TAGS)
    assert train_texts.isdisjoint(t.text for t in tags.DISTRACTOR_TAGS)
    # A hot tag is new wording or a new composition, never a training meaning renamed
    # with a training word: each hot composition joins two facts seen apart in training.
    train_meanings = {t.facts for t in tags.TRAIN_TAGS}
    for tag in tags.HOT_TAGS:
        if len(tag.facts) == 2:
            assert tag.facts not in train_meanings, tag
            assert all(frozenset({f}) in train_meanings for f in tag.facts), tag
        else:
            assert tag.facts in train_meanings  # a synonym of a trained atom


def test_hot_synonyms_are_words_no_trained_text_head_has_seen() -> None:
    def words(wording: captions.Wording) -> set[str]:
        tables = (wording.shapes, wording.sizes, wording.motions, wording.textures)
        return {w for table in tables for synonyms in table.values() for w in synonyms}

    trained, held_out = words(captions.TRAIN), words(captions.HELD_OUT)
    for fact, synonyms in tags.HOT_SYNONYMS.items():
        for synonym in synonyms:
            bare = synonym.removesuffix(" background")
            assert bare not in trained, synonym
            assert fact[0] == "colour" or bare in held_out, synonym
    train_synonyms = {s for v in tags.TRAIN_SYNONYMS.values() for s in v}
    assert not {s.removesuffix(" background") for s in train_synonyms} & held_out


def test_ground_truth_follows_the_facts() -> None:
    red_ring = ShapeFacts("ring", "red", "large", "spinning")
    scene = SceneFacts(0.0, 5.0, "stripes", (red_ring, ShapeFacts("disk", "blue", None, None)))
    by_text = {t.text: t for t in tags.VOCABULARY}
    carried = {t.text for t in tags.VOCABULARY if tags.tag_matches(t, [scene])}
    assert {"red", "ring", "red ring", "donut", "crimson", "large ring", "ring spinning",
            "striped background", "blue disk", "disk", "spinning"} <= carried
    assert "red disk" not in carried and "blue ring" not in carried  # bound to one shape
    assert "disk spinning" not in carried  # the disk's motion is not stated
    assert not any(tags.tag_matches(d, [scene]) for d in tags.DISTRACTOR_TAGS)
    assert by_text["ring spinning"].audible and not by_text["red ring"].audible


def test_every_generated_video_has_tags_and_tags_vary() -> None:
    per_video = [frozenset(t.text for t in tags.video_tags(s, DURATION)) for s in range(40)]
    assert all(len(v) >= 5 for v in per_video)
    assert len(set(per_video)) == len(per_video)
    used = frozenset().union(*per_video)
    assert len(used & {t.text for t in tags.HOT_TAGS}) >= 20  # hot tags are evaluable
    assert len(used & {t.text for t in tags.TRAIN_TAGS}) >= 80


def test_titles_are_deterministic_and_mixed() -> None:
    kinds = [tags.title_kind(s) for s in range(2000)]
    for kind, share in tags.TITLE_SHARES.items():
        assert kinds.count(kind) / len(kinds) == pytest.approx(share, abs=0.03)
    seeds = range(40)
    first = [tags.video_title(s, DURATION) for s in seeds]
    assert first == [tags.video_title(s, DURATION) for s in seeds]
    assert set(kinds[:40]) == set(tags.TITLE_SHARES)  # every kind checked below
    for seed, kind, title in zip(seeds, kinds[:40], first, strict=True):
        clean = tags.video_title(seed, DURATION, "clean")
        if kind == "empty":
            assert title == ""
        elif kind == "clean":
            assert title == clean and title.endswith("background")
        else:
            assert title and title != clean


def test_clean_title_describes_the_video() -> None:
    for seed in range(20):
        scenes = describe_video(seed, DURATION)
        title = tags.video_title(seed, DURATION, "clean")
        longest = max(scenes, key=lambda s: s.end_s - s.start_s)
        assert tags.WORDS["texture"][longest.texture] in title
        if longest.shapes:  # else nothing is in view long enough to name
            assert tags.WORDS["shape"][longest.shapes[0].kind] in title
            assert longest.shapes[0].colour in title


def test_narration_share_and_text() -> None:
    narrated = [tags.video_narration(s, DURATION) for s in SEEDS]
    share = sum(n is not None for n in narrated) / len(narrated)
    assert share == pytest.approx(tags.NARRATED_SHARE, abs=0.07)
    assert any(n and n.subtitled for n in narrated) and any(n and not n.subtitled for n in narrated)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed: run `make speech`")
def test_written_video_carries_sound_narration_and_subtitles(tmp_path: Path) -> None:
    seed = next(s for s in SEEDS if (n := tags.video_narration(s, 6.0)) and n.subtitled)
    video = tags.write_tagged_video(tmp_path / "v.mp4", seed, 6.0, width=64, height=48)
    assert video.narration is not None and video.tags == tuple(tags.video_tags(seed, 6.0))
    assert read_subtitles(video.path) == video.narration.text
    assert len(decode_audio(video.path)) >= 6 * 16_000
