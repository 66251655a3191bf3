"""Speech to text for spoken queries: pocketsphinx with a language model of the domain.

The acoustic model is the US English one the ``pocketsphinx`` wheel ships (nothing is
downloaded). What makes recognition fit the domain is the language model: a word
bigram model (ARPA, absolute discounting with back-off to unigrams) estimated from
the captioner's training sentences, over the words the captioner knows, so the decoder
only proposes words a caption can contain, in orders captions use. The caption exporter
writes it beside ``caption_step`` (``repository_layout.SPEECH_LM_FILE``); a repository
without one gets a unigram model of the vocabulary alone (far weaker: every word order
is as likely).

Each call runs a fresh decoder (about 20 ms to build): pocketsphinx keeps cepstral
means across utterances, so a shared decoder would answer one request differently
depending on the ones before it, and could not serve two at once.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from itertools import pairwise
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000  # what the acoustic model was trained on
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_WORD = re.compile(r"[a-z0-9]+")
_PAD_S = 0.25  # silence around the query: the decoder needs a little before and after
_DISCOUNT = 0.5


def spoken_words(text: str) -> list[str]:
    """How ``text`` is said, word by word: lower case, hyphenated words apart, digits
    spelled out, punctuation gone ("A green-coloured 4" -> a green coloured four)."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        out.extend(_DIGITS[int(d)] for d in word) if word.isdigit() else out.append(word)
    return out


@cache
def pronunciations() -> dict[str, str]:
    """word -> phones of the wheel's CMU dictionary (first pronunciation of each word)."""
    from pocketsphinx import get_model_path

    phones: dict[str, str] = {}
    with open(os.path.join(get_model_path(), "en-us", "cmudict-en-us.dict")) as fh:
        for line in fh:
            word, _, rest = line.strip().partition(" ")
            if word and "(" not in word:
                phones.setdefault(word, rest.strip())
    return phones


def build_arpa(sentences: Iterable[Sequence[str]]) -> str:
    """A back-off bigram model of ``sentences`` (lists of words) in ARPA format; words
    the acoustic model's dictionary cannot pronounce are left out (with their bigrams)."""
    known = pronunciations()
    unigrams: Counter[str] = Counter()
    bigrams: Counter[tuple[str, str]] = Counter()
    for words in sentences:
        seq = ["<s>", *(w for w in words if w in known), "</s>"]
        if len(seq) > 2:
            unigrams.update(seq[1:])
            bigrams.update(pairwise(seq))
    if not unigrams:
        raise ValueError("no pronounceable word to build a language model from")
    total, vocab = sum(unigrams.values()), len(unigrams)
    p_uni = {w: (n + 0.5) / (total + 0.5 * vocab) for w, n in unigrams.items()}
    after: dict[str, list[tuple[str, int]]] = {}
    for (a, b), n in bigrams.items():
        after.setdefault(a, []).append((b, n))
    backoff = {}
    for a, nexts in after.items():
        count = sum(n for _, n in nexts)
        left = 1.0 - sum(p_uni[b] for b, _ in nexts)
        backoff[a] = (_DISCOUNT * len(nexts) / count) / max(left, 1e-9)

    def unigram_line(word: str, logp: float) -> str:
        bow = f" {math.log10(backoff[word]):.4f}" if word in backoff else ""
        return f"{logp:.4f} {word}{bow}"

    lines = ["\\data\\", f"ngram 1={vocab + 1}", f"ngram 2={len(bigrams)}", "", "\\1-grams:",
             unigram_line("<s>", -99.0)]
    lines += [unigram_line(w, math.log10(p)) for w, p in sorted(p_uni.items())]
    lines += ["", "\\2-grams:"]
    for a, nexts in sorted(after.items()):
        count = sum(n for _, n in nexts)
        lines += [f"{math.log10((n - _DISCOUNT) / count):.4f} {a} {b}" for b, n in sorted(nexts)]
    return "\n".join([*lines, "", "\\end\\", ""])


def vocabulary_arpa(words: Iterable[str]) -> str:
    """The fallback model: every word of the vocabulary alike, in any order."""
    return build_arpa([spoken_words(w) for w in words])


def lm_words(arpa: str) -> list[str]:
    """The words of an ARPA model's unigram section (no sentence markers)."""
    section = arpa.split("\\1-grams:", 1)[1].split("\\2-grams:", 1)[0]
    words = (line.split()[1] for line in section.splitlines() if len(line.split()) >= 2)
    return [w for w in words if w not in ("<s>", "</s>")]


class SpeechRecognizer:
    """Recognises short spoken queries (16 kHz mono float32) with one language model."""

    def __init__(self, arpa: str) -> None:
        known = pronunciations()
        self._dir = tempfile.TemporaryDirectory(prefix="vidsearch-speech-")
        folder = Path(self._dir.name)
        self.lm_path = folder / "domain.arpa"
        self.dict_path = folder / "domain.dict"
        self.lm_path.write_text(arpa)
        words = sorted(w for w in lm_words(arpa) if w in known)
        self.dict_path.write_text("".join(f"{w} {known[w]}\n" for w in words))
        self.words = tuple(words)

    def recognize(self, samples: np.ndarray) -> str:
        """The words heard in ``samples`` ("" when none)."""
        from pocketsphinx import Decoder, get_model_path

        pad = np.zeros(int(_PAD_S * SAMPLE_RATE), dtype=np.int16)
        pcm = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
        raw = np.concatenate([pad, (pcm * 32767).astype(np.int16), pad]).tobytes()
        decoder = Decoder(hmm=os.path.join(get_model_path(), "en-us", "en-us"),
                          lm=str(self.lm_path), dict=str(self.dict_path), loglevel="FATAL")
        decoder.start_utt()
        # Live cepstral means: whole-utterance ones dropped words of short queries.
        decoder.process_raw(raw, full_utt=False)
        decoder.end_utt()
        found = decoder.hyp()
        return " ".join(found.hypstr.split()) if found is not None else ""

    def close(self) -> None:
        self._dir.cleanup()
