"""The thesaurus on the real WordNet database (Debian wordnet-base, `make thesaurus`): words a
model never trained on become related training tags, and nothing else changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsearch.config import TagsConfig
from vidsearch.contract.thesaurus import Thesaurus, Vocabulary

TAGS = Vocabulary.of(["red", "blue", "purple", "disk", "ring", "spinning", "small",
                      "moving up", "moving down", "striped background"])


@pytest.fixture(scope="module")
def thesaurus() -> Thesaurus:
    return Thesaurus(TagsConfig().thesaurus or Path("/usr/share/wordnet"))


def test_unseen_words_become_related_training_tags(thesaurus: Thesaurus) -> None:
    assert thesaurus.rewrite("crimson ring", TAGS) == "red ring"  # a synonym
    assert thesaurus.rewrite("Azure disc", TAGS) == "blue disk"  # a hypernym; a synonym
    assert thesaurus.rewrite("Crimson Ring!", TAGS) == "red Ring!"  # the rest as written
    assert thesaurus.rewrite("violet", TAGS) == "purple"
    assert thesaurus.rewrite("tiny", TAGS) == "small"  # a similar adjective
    # an inflected form, matched through base forms on both sides: twirl ~ spin(ning)
    assert thesaurus.rewrite("twirling in place", TAGS) == "spinning in place"
    # a whole tag of several words: WordNet's "move up" is a synonym of "rise"
    assert thesaurus.rewrite("rising", TAGS) == "moving up"
    # a derived form: "three-sided" is a synonym of "triangular", derived from "triangle"
    assert thesaurus.rewrite("three-sided", Vocabulary.of(["triangle"])) == "triangle"


def test_trained_and_unrelated_words_stay_as_written(thesaurus: Thesaurus) -> None:
    assert thesaurus.rewrite("moving up", TAGS) == "moving up"
    assert thesaurus.rewrite("dog on a beach", TAGS) == "dog on a beach"
    # "moving" is only ever part of a tag ("moving up"): never a rewrite's target, though
    # WordNet relates "sinking" to "move"
    assert thesaurus.rewrite("sinking", TAGS) == "sinking"
    assert "move" in thesaurus.lemmas("moving")
    # a derivation reaches the word it derives, not that word's synonyms: "snow" is derived
    # into "snowy", whose synset also holds "white" (the colour of a white disk)
    assert thesaurus.rewrite("snow", Vocabulary.of(["white"])) == "snow"


def test_related_words_are_ranked_synonym_similar_hypernym(thesaurus: Thesaurus) -> None:
    assert thesaurus.related("crimson")["red"] == 0
    assert thesaurus.related("tiny")["small"] == 1
    assert thesaurus.related("azure")["blue"] == 2
    assert thesaurus.related("triangular")["triangle"] == 2
    assert "rise" in thesaurus.lemmas("rising") and "rise" in thesaurus.lemmas("rose")


def test_a_missing_database_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="wordnet-base"):
        Thesaurus(tmp_path)


def test_a_hypernym_must_be_the_tag_as_written(thesaurus: Thesaurus) -> None:
    """"front" is a kind of "line": that relates it to the tag "line", not to "lined"."""
    assert thesaurus.rewrite("front", Vocabulary.of(["line"])) == "line"
    assert thesaurus.rewrite("front", Vocabulary.of(["lined"])) == "front"


def test_fewer_senses_relate_fewer_words(thesaurus: Thesaurus) -> None:
    """A word's rare senses relate it to what a query almost never means by it: "egg" is
    also slang for "ball"; the first two senses of each part of speech do not say so."""
    balls = Vocabulary.of(["ball"])
    assert thesaurus.rewrite("egg", balls) == "ball"
    frequent = Thesaurus(thesaurus.root, senses=2)
    assert frequent.rewrite("egg", balls) == "egg"
    assert frequent.rewrite("huge disc", Vocabulary.of(["big", "disk"])) == "big disk"


def test_a_vocabulary_travels_as_json() -> None:
    vocabulary = Vocabulary.of(["going up", "big"], ["a {size} clip in front of"])
    assert "front" in vocabulary.words and vocabulary.targets == {"going up", "big"}
    assert Vocabulary.from_json(vocabulary.to_json()) == vocabulary
    assert Vocabulary.from_json(["red ring", "blue"]) == Vocabulary.of(["red ring", "blue"])
    with pytest.raises(TypeError, match="not a vocabulary"):
        Vocabulary.from_json("red")


def test_the_parts_of_a_hyphenated_training_word_are_known(thesaurus: Thesaurus) -> None:
    """A recogniser (or a user) writes "wave patterned": neither part is rewritten."""
    vocabulary = Vocabulary.of(["wave-patterned", "big"])
    assert {"wave", "patterned", "wave-patterned"} <= vocabulary.words
    assert thesaurus.rewrite("a wave patterned background", vocabulary) == (
        "a wave patterned background")
