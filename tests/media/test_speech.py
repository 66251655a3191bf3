"""The spoken-query language model and recognizer (pocketsphinx's own acoustic model),
on speech synthesised by Debian's espeak-ng (`make speech`)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from vidsearch.media.audio import decode_audio
from vidsearch.media.speech import (
    SpeechRecognizer,
    build_arpa,
    lm_words,
    spoken_words,
    vocabulary_arpa,
)
from vidsearch.media.synthetic_audio import ESPEAK_RATE, espeak_available, speak, write_wav

SENTENCES = ["a red circle moving to the left", "a big blue square going up",
             "a small green triangle sliding right", "a red square then a blue circle"]


def test_words_are_spoken_as_written() -> None:
    assert spoken_words("A video with 5 scenes: a green-coloured ring.") == [
        "a", "video", "with", "five", "scenes", "a", "green", "coloured", "ring"]


def test_the_bigram_model_is_a_distribution() -> None:
    arpa = build_arpa([s.split() for s in SENTENCES] + [["xqzzy", "red"]])
    assert "xqzzy" not in lm_words(arpa)  # unpronounceable: left out
    unigrams = arpa.split("\\1-grams:")[1].split("\\2-grams:")[0].split("\n")
    probs = [10 ** float(line.split()[0]) for line in unigrams
             if len(line.split()) >= 2 and line.split()[1] != "<s>"]
    assert math.fsum(probs) == pytest.approx(1.0, abs=1e-3)
    bigrams = [line.split() for line in arpa.split("\\2-grams:")[1].split("\n")
               if len(line.split()) == 3]
    after_red = [10 ** float(p) for p, a, _ in bigrams if a == "red"]
    assert 0.0 < math.fsum(after_red) < 1.0  # discounted: the rest backs off to unigrams
    assert {"<s>", "</s>"}.isdisjoint(lm_words(arpa)) and "circle" in lm_words(arpa)


def _read_arpa(arpa: str) -> dict[tuple[str, ...], tuple[float, float]]:
    """n-gram -> (probability, back-off weight) of an ARPA model."""
    table, order = {}, 0
    for line in arpa.split("\\end\\")[0].splitlines():
        if line.endswith("-grams:"):
            order = int(line.strip("\\").split("-")[0])
        elif order and line.strip():
            fields = line.split()
            bow = float(fields[order + 1]) if len(fields) > order + 1 else 0.0
            table[tuple(fields[1 : order + 1])] = (10 ** float(fields[0]), 10**bow)
    return table


def test_every_history_of_the_trigram_model_is_a_distribution() -> None:
    arpa = build_arpa([s.split() for s in SENTENCES], order=3)
    assert "\\3-grams:" in arpa
    table = _read_arpa(arpa)
    words = [g[0] for g in table if len(g) == 1 and g[0] != "<s>"]

    def prob(gram: tuple[str, ...]) -> float:
        if gram in table:
            return table[gram][0]
        return (table[gram[:-1]][1] if gram[:-1] in table else 1.0) * prob(gram[1:])

    for history in [("<s>", "a"), ("a", "red"), ("red", "square"), ("then", "a"), ("blue",)]:
        assert math.fsum(prob((*history, w)) for w in words) == pytest.approx(1.0, abs=1e-3)
    # what the captions say is likelier than what they never say
    assert prob(("a", "red", "circle")) > prob(("a", "red", "triangle"))


def test_caption_words_missing_from_the_cmu_dictionary_are_pronounced() -> None:
    arpa = build_arpa([["a", "stripy", "chequered", "background"]])
    assert {"stripy", "chequered"} <= set(lm_words(arpa))


@pytest.mark.skipif(not espeak_available(), reason="needs espeak-ng (make speech)")
def test_a_spoken_sentence_is_recognised(tmp_path: Path) -> None:
    spoken = speak(SENTENCES[2], ESPEAK_RATE, voice="en-us", speed_wpm=130)
    wav = write_wav(tmp_path / "query.wav", spoken, ESPEAK_RATE)
    recognizer = SpeechRecognizer(build_arpa([s.split() for s in SENTENCES]))
    try:
        heard = recognizer.recognize(decode_audio(wav))
        again = recognizer.recognize(decode_audio(wav))
    finally:
        recognizer.close()
    assert heard == SENTENCES[2]
    assert again == heard  # a fresh decoder each time: no state carried between queries


def test_the_vocabulary_alone_makes_a_model() -> None:
    arpa = vocabulary_arpa(["<unk>", "red", "green-coloured", "4"][1:])
    assert set(lm_words(arpa)) == {"red", "green", "coloured", "four"}
