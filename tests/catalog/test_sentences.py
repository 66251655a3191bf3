"""SearchBySentence's catalog side and its fusion, on a small hand-made catalog in both
engines (Qdrant Edge, qdrant-client local mode): captions with a full-text index and
sentence vectors, the two rankings, and their reciprocal-rank fusion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vidsearch.catalog.base import Caption, Catalog, VideoFilter, VideoRecord
from vidsearch.catalog.factory import open_catalog
from vidsearch.config import CatalogConfig
from vidsearch.orchestrator.sentence_search import fuse, keyword_ranking, query_words

DIM = 4
# (id, caption, sentence vector): vectors say what the captions mean, by hand.
CAPTIONS = [
    ("red-circle", "A red circle moving to the left.", [1.0, 0.0, 0.0, 0.0]),
    ("red-ring", "A red-coloured ring over a striped background.", [0.9, 0.3, 0.0, 0.0]),
    ("blue-box", "A big blue box, then a green triangle.", [0.0, 1.0, 0.0, 0.0]),
    ("green-dot", "A green dot spinning.", [0.0, 0.2, 1.0, 0.0]),
    ("empty", "An empty wavy background.", [0.0, 0.0, 0.0, 1.0]),
]


def _record(i: int, video_id: str, text: str, vector: list[float], version: int = 1
            ) -> VideoRecord:
    rng = np.random.default_rng(i)
    return VideoRecord(
        video_id=video_id, hash_bits=np.sign(rng.standard_normal(128) + 1e-3).astype(np.float32),
        texture=rng.standard_normal(8).astype(np.float32), duration_s=10.0, model_version=1,
        tags=("odd",) if i % 2 else (),
        caption=Caption(text, 3, np.asarray(vector, dtype=np.float32), version))


@pytest.fixture(params=["qdrant_edge", "qdrant_local"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    config = CatalogConfig(backend=request.param, path=tmp_path / "catalog")
    opened = open_catalog(config, texture_dim=8, embedding_dim=None, sentence_dim=DIM)
    opened.upsert_videos([_record(i, *row) for i, row in enumerate(CAPTIONS)])
    yield opened
    opened.close()


def _ids(found: list) -> list[str]:
    return [c.info.video_id for c in found]


def test_captions_are_stored_and_read_back(catalog: Catalog) -> None:
    info = catalog.get_video("blue-box")
    assert info is not None
    assert (info.caption, info.caption_model_version) == ("A big blue box, then a green "
                                                          "triangle.", 3)
    assert catalog.has_sentence_vectors()


def test_both_rankings_come_from_the_catalog(catalog: Catalog) -> None:
    query = np.array([0.0, 0.1, 1.0, 0.0], dtype=np.float32)  # means: the green dot
    by_vector, by_words = catalog.search_sentences(query, ["red", "ring"], limit=10,
                                                   vector_version=1)
    assert _ids(by_vector)[0] == "green-dot" and len(by_vector) == len(CAPTIONS)
    # the full-text index: "red-coloured" holds the word "red", and "ring" matches whole
    # words only (not "string"); ordered by cosine among the matches
    assert set(_ids(by_words)) == {"red-circle", "red-ring"}
    sims = [c.similarity for c in by_words]
    assert sims == sorted(sims, reverse=True)


def test_only_the_query_encoders_version_and_the_filter(catalog: Catalog) -> None:
    catalog.upsert_video(_record(9, "other-version", "A red ring.", [1, 0, 0, 0], version=2))
    query = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    by_vector, by_words = catalog.search_sentences(query, ["ring"], limit=10, vector_version=1)
    assert "other-version" not in _ids(by_vector) + _ids(by_words)
    v2, _ = catalog.search_sentences(query, [], limit=10, vector_version=2)
    assert _ids(v2) == ["other-version"]
    odd, odd_words = catalog.search_sentences(query, ["red"], limit=10, vector_version=1,
                                              only=VideoFilter(tags=("odd",)))
    assert set(_ids(odd)) == {"red-ring", "green-dot"} and _ids(odd_words) == ["red-ring"]


def test_fusion_lifts_a_video_that_says_it_in_so_many_words(catalog: Catalog) -> None:
    """The query vector is nearest the red circle, but the words name the ring: the video
    both rankings place high wins, and the scores are the RRF sums."""
    query = np.array([1.0, 0.05, 0.0, 0.0], dtype=np.float32)
    words = query_words("a ring on a striped background")
    assert words == ("ring", "striped")
    by_vector, by_words = catalog.search_sentences(query, words, limit=10, vector_version=1)
    assert _ids(by_vector)[:2] == ["red-circle", "red-ring"]
    terms = {w: w for w in words}  # no synonym groups: each word is its own term
    ranked = keyword_ranking(by_words, terms)
    assert [(k.candidate.info.video_id, k.matched) for k in ranked] == [
        ("red-ring", ("ring", "striped"))]
    hits = fuse(by_vector, by_words, terms, k=60.0, top_k=3)
    assert [h.video.video_id for h in hits] == ["red-ring", "red-circle", "blue-box"]
    ring, circle, box = hits
    assert (ring.vector_rank, ring.keyword_rank) == (2, 1)
    assert ring.score == pytest.approx(1 / 62 + 1 / 61)
    assert (circle.vector_rank, circle.keyword_rank) == (1, 0)
    assert circle.score == pytest.approx(1 / 61)
    assert box.score == pytest.approx(1 / 63)
    assert ring.matched_words == ("ring", "striped") and circle.matched_words == ()


def test_ties_go_to_the_nearer_sentence_vector() -> None:
    from vidsearch.catalog.base import SentenceCandidate, VideoInfo

    a = SentenceCandidate(VideoInfo("a", 1.0, 1, 1, caption="blue box"), 0.9)
    b = SentenceCandidate(VideoInfo("b", 1.0, 1, 1, caption="red box"), 0.5)
    hits = fuse([a, b], [b, a], {"red": "red"}, k=60.0, top_k=5)
    # b: vector 2 + words 1; a: vector 1, holds no query word -> b first
    assert [h.video.video_id for h in hits] == ["b", "a"]
    tie = fuse([a, b], [], {}, k=60.0, top_k=5)
    assert [h.video.video_id for h in tie] == ["a", "b"]
    for fusion in ("keywords", "rrf"):  # both fusions
        assert [h.video.video_id for h in fuse([a, b], [b, a], {"red": "red"}, k=60.0,
                                               top_k=5, fusion=fusion)] == ["b", "a"]


def test_synonyms_match_facts_not_words() -> None:
    """A query for "a large red ring" matches a caption saying "a giant red hoop": the
    captioner's synonym groups name one term; other words (colours) are their own terms."""
    from vidsearch.catalog.base import SentenceCandidate, VideoInfo
    from vidsearch.orchestrator.sentence_search import Synonyms

    synonyms = Synonyms({"sizelarge": ("large", "giant"), "shapering": ("ring", "hoop"),
                         "shapecircle": ("circle", "round shape"),
                         "motionmovingright": ("moving right", "moving to the right")})
    terms = synonyms.terms("A large red ring moving to the right, then a round shape")
    assert terms == {"sizelarge": "large", "red": "red", "shapering": "ring",
                     "motionmovingright": "moving to the right", "shapecircle": "round shape"}
    # what the full-text index is asked for: every phrase's words, structure words left out
    assert synonyms.words({"shapering": "ring", "red": "red"}) == ("ring", "hoop", "red")
    hoop = SentenceCandidate(VideoInfo("hoop", 1.0, 1, 1, caption="A giant red hoop."), 0.2)
    words = SentenceCandidate(VideoInfo("words", 1.0, 1, 1, caption="a red ring"), 0.1)
    none = SentenceCandidate(VideoInfo("none", 1.0, 1, 1, caption="a blue box"), 0.9)
    ranked = keyword_ranking([none, words, hoop], terms, synonyms)
    assert [(k.candidate.info.video_id, k.matched) for k in ranked] == [
        ("hoop", ("large", "red", "ring")), ("words", ("red", "ring"))]
    # 3 terms + 2 neighbouring pairs (large|red, red|ring); 2 terms + red|ring
    assert [k.score for k in ranked] == [5, 3]
    # keywords fusion: more facts first, cosine after; rrf lets the nearest vector lead
    hits = fuse([none, hoop, words], [hoop, words], terms, k=60.0, top_k=3,
                synonyms=synonyms, fusion="keywords")
    assert [h.video.video_id for h in hits] == ["hoop", "words", "none"]
    assert hits[0].matched_words == ("large", "red", "ring")
    assert 5 < hits[0].score < 6 and 0 < hits[2].score < 1
    assert Synonyms().terms("a Big red-ish ring") == {"big": "big", "red": "red", "ish": "ish",
                                                      "ring": "ring"}


def test_facts_side_by_side_tell_which_colour_goes_with_which_shape() -> None:
    """Both captions name red and a ring; the one that says them side by side (a red ring,
    not a red box beside a ring) ranks first, whatever the cosine says."""
    from vidsearch.catalog.base import SentenceCandidate, VideoInfo
    from vidsearch.orchestrator.sentence_search import Synonyms, term_pairs

    assert term_pairs(["red", "ring", "red"]) == {frozenset({"red", "ring"})}
    synonyms = Synonyms({"shapering": ("ring", "hoop"), "shaperect": ("box",)})
    terms = synonyms.terms("a red ring")
    right = SentenceCandidate(VideoInfo("right", 1.0, 1, 1, caption="a hoop in red"), 0.1)
    apart = SentenceCandidate(VideoInfo("apart", 1.0, 1, 1, caption="a red box and a ring"),
                              0.9)
    ranked = keyword_ranking([apart, right], terms, synonyms)
    assert [(k.candidate.info.video_id, k.score) for k in ranked] == [("right", 3), ("apart", 2)]
    assert ranked[0].matched == ranked[1].matched == ("red", "ring")  # the same facts named


def test_counts_in_words_read_as_the_digits_captions_write() -> None:
    from vidsearch.orchestrator.sentence_search import numbers_as_digits

    assert numbers_as_digits("Four scenes: first a ring") == "4 scenes: first a ring"
    assert (numbers_as_digits("twenty-one shots, ninety nine, eleven, fifty")
            == "21 shots, 99, 11, 50")
    assert numbers_as_digits("someone alone, often") == "someone alone, often"  # words only


def test_a_phrase_matches_with_a_hyphen_or_a_space() -> None:
    """A recogniser hears no hyphen: "wave patterned" names the fact "wave-patterned" does."""
    from vidsearch.orchestrator.sentence_search import Synonyms

    synonyms = Synonyms({"texturesines": ("wavy", "wave-patterned"),
                         "shapering": ("hollow circle",)})
    expected = {"texturesines": "wave patterned", "shapering": "hollow circle"}
    assert synonyms.terms("a wave patterned hollow-circle") == expected
    assert synonyms.terms("a Wave-patterned hollow  circle") == expected
