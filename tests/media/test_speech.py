"""The spoken-query language model and recognizer (pocketsphinx's own acoustic model),
on speech synthesised by Debian's espeak-ng (`make speech`)."""

from __future__ import annotations

import math
import shutil
import subprocess
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


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (make speech)")
def test_a_spoken_sentence_is_recognised(tmp_path: Path) -> None:
    wav = tmp_path / "query.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "130", "-w", str(wav), SENTENCES[2]],
                   check=True)
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
