"""Speech to text for spoken queries: pocketsphinx with a language model of the domain.

The acoustic model is the US English one the ``pocketsphinx`` wheel ships (nothing is
downloaded). What makes recognition fit the domain is the language model: a word
trigram model (ARPA, absolute discounting with back-off to bigrams, then unigrams)
estimated from the captioner's training sentences, over the words the captioner knows
(``pronunciations.json`` adds the two the CMU dictionary lacks), so the decoder only
proposes words a caption can contain, in orders captions use. The caption exporter
writes it beside ``caption_step`` (``repository_layout.SPEECH_LM_FILE``); a repository
without one gets a unigram model of the vocabulary alone (far weaker: every word order
is as likely). Measured on the spoken queries of `vidsearch eval sentences` (the
recognizer alone, 12 espeak-ng conditions x 20 queries): WER 30.6% with the first bigram
model; 25.7% priming the cepstral mean; 23.1% with dither too; 18.5-18.7% with the
trigram of every training reference; 12.1% with a noise floor under the query.

Each call runs a fresh decoder (about 20 ms to build): pocketsphinx keeps cepstral
means across utterances, so a shared decoder would answer one request differently
depending on the ones before it, and could not serve two at once. Its first pass over
the query (features only, no search) sets that mean from the query itself.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000  # what the acoustic model was trained on
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_WORD = re.compile(r"[a-z0-9]+")
_PAD_S = 0.25  # silence around the query: the decoder needs a little before and after
_DISCOUNT = 0.5
_DITHER_SEED = 1
# White noise added to the query (about -50 dBFS; seeded): synthetic or studio-clean speech
# has no background, and the US model misheard it (British voice, clean: WER 21-24%, the same
# voice with noise at 15 dB SNR: 8-9%). With this floor, all 12 conditions: 18.5% -> 12.1%;
# worst condition per voice en-us 3.2%, en-gb 10.0%, en-gb-scotland 36.9% (0.01 gave 12.0%
# overall but 12.1% en-gb and worse noisy queries).
_NOISE_FLOOR = 0.003


def spoken_words(text: str) -> list[str]:
    """How ``text`` is said, word by word: lower case, hyphenated words apart, digits
    spelled out, punctuation gone ("A green-coloured 4" -> a green coloured four)."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        out.extend(_DIGITS[int(d)] for d in word) if word.isdigit() else out.append(word)
    return out


@cache
def pronunciations() -> dict[str, str]:
    """word -> phones of the wheel's CMU dictionary (first pronunciation of each word),
    and of the caption words it lacks (``pronunciations.json``, written by hand in its
    phone set: without them "chequered" and "stripy" could never be recognised)."""
    from pocketsphinx import get_model_path

    phones: dict[str, str] = {}
    with open(os.path.join(get_model_path(), "en-us", "cmudict-en-us.dict")) as fh:
        for line in fh:
            word, _, rest = line.strip().partition(" ")
            if word and "(" not in word:
                phones.setdefault(word, rest.strip())
    added = json.loads(Path(__file__).with_name("pronunciations.json").read_text())
    return {**added, **phones}


def build_arpa(sentences: Iterable[Sequence[str]], order: int = 3) -> str:
    """A back-off n-gram model of ``sentences`` (lists of words) in ARPA format: add-half
    unigrams, then absolute discounting (``_DISCOUNT``) at each higher order, the mass
    taken from a history's seen continuations given to the next lower order (Katz-style
    back-off weights, so every history's distribution sums to one). Words the acoustic
    model's dictionary cannot pronounce are left out (with their n-grams)."""
    known = pronunciations()
    counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(order)]
    for words in sentences:
        seq = ("<s>", *(w for w in words if w in known), "</s>")
        if len(seq) > 2:
            for n in range(1, order + 1):
                counts[n - 1].update(seq[i:i + n] for i in range(len(seq) - n + 1))
    counts[0].pop(("<s>",), None)
    if not counts[0]:
        raise ValueError("no pronounceable word to build a language model from")
    total, vocab = sum(counts[0].values()), len(counts[0])
    prob = {g: (n + 0.5) / (total + 0.5 * vocab) for g, n in counts[0].items()}
    backoff: dict[tuple[str, ...], float] = {}

    def backed_off(gram: tuple[str, ...]) -> float:
        """P(last word | the others) of the model so far (lower orders for unseen grams)."""
        if gram in prob:
            return prob[gram]
        return backoff.get(gram[:-1], 1.0) * backed_off(gram[1:])

    for n in range(2, order + 1):
        after: dict[tuple[str, ...], list[tuple[tuple[str, ...], int]]] = {}
        for gram, c in counts[n - 1].items():
            after.setdefault(gram[:-1], []).append((gram, c))
        for history, seen in after.items():
            count = sum(c for _, c in seen)
            lower = sum(backed_off(g[1:]) for g, _ in seen)
            backoff[history] = (_DISCOUNT * len(seen) / count) / max(1.0 - lower, 1e-9)
            prob.update((g, (c - _DISCOUNT) / count) for g, c in seen)

    def line(gram: tuple[str, ...], logp: float) -> str:
        bow = f" {math.log10(backoff[gram]):.4f}" if gram in backoff else ""
        return f"{logp:.4f} {' '.join(gram)}{bow}"

    sizes = [vocab + 1, *(len(c) for c in counts[1:])]
    lines = ["\\data\\", *(f"ngram {n}={k}" for n, k in enumerate(sizes, start=1))]
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        if n == 1:
            lines.append(line(("<s>",), -99.0))
        lines += [line(g, math.log10(prob[g])) for g in sorted(counts[n - 1])]
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
        pcm = np.asarray(samples, dtype=np.float32)
        floor = np.random.default_rng(_DITHER_SEED).standard_normal(pcm.size, dtype=np.float32)
        pcm = np.clip(pcm + _NOISE_FLOOR * floor, -1.0, 1.0)
        raw = np.concatenate([pad, (pcm * 32767).astype(np.int16), pad]).tobytes()
        # Dither (seeded: the same audio, the same words): digital silence between words
        # has no spectrum for the features to normalise.
        decoder = Decoder(hmm=os.path.join(get_model_path(), "en-us", "en-us"),
                          lm=str(self.lm_path), dict=str(self.dict_path), dither=True,
                          seed=_DITHER_SEED, loglevel="FATAL")
        # Live cepstral means (whole-utterance ones dropped words of short queries), set
        # by a first pass over the query itself: from the model's default mean, the
        # first words of a query were misheard until the mean had caught up.
        for search in (False, True):
            decoder.start_utt()
            decoder.process_raw(raw, no_search=not search, full_utt=False)
            decoder.end_utt()
        found = decoder.hyp()
        return " ".join(found.hypstr.split()) if found is not None else ""

    def close(self) -> None:
        self._dir.cleanup()
