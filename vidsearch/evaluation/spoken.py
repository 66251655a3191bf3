"""Spoken queries for the sentence benchmark: the voices and speeds espeak-ng reads a
query in (``media.synthetic_audio.speak``), white noise mixed in at a signal-to-noise
ratio, and the word error rate of what the recognizer heard against what was said."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

VOICES = ("en-us", "en-gb", "en-gb-scotland")  # American, British, Scottish English
SPEEDS = (140, 180)  # words per minute (espeak-ng's default is 175)


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``samples`` with white Gaussian noise at ``snr_db`` (power of the speech's voiced
    part, its samples above 1% of the peak, over the noise's)."""
    voiced = samples[np.abs(samples) > 0.01 * float(np.max(np.abs(samples)))]
    power = float(np.mean(voiced**2)) if voiced.size else 0.0
    noise = rng.standard_normal(samples.size).astype(np.float32)
    out: np.ndarray = samples + noise * np.sqrt(power / 10 ** (snr_db / 10))
    return out


def word_errors(said: Sequence[str], heard: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning ``said`` into ``heard`` (word-level
    Levenshtein distance); the word error rate is their sum over the words said."""
    row = list(range(len(heard) + 1))
    for i, word in enumerate(said, start=1):
        prev, row[0] = row[0], i
        for j, other in enumerate(heard, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != other))
    return row[-1]
