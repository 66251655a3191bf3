"""Spoken queries for the sentence benchmark: Debian's espeak-ng reads a query aloud in a
given voice and speed, optionally with white noise mixed in at a signal-to-noise ratio,
and the word error rate of what the recognizer heard against what was said."""

from __future__ import annotations

import subprocess
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

VOICES = ("en-us", "en-gb", "en-gb-scotland")  # American, British, Scottish English
SPEEDS = (140, 180)  # words per minute (espeak-ng's default is 175)


def speak(text: str, path: Path, *, voice: str, speed: int) -> Path:
    """``text`` said by espeak-ng into a WAV file (22.05 kHz mono, 16-bit)."""
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """(float32 samples in [-1, 1], sample rate) of a 16-bit mono WAV file."""
    with wave.open(str(path)) as fh:
        rate, raw = fh.getframerate(), fh.readframes(fh.getnframes())
    return np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0, rate


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(pcm.tobytes())
    return path


def add_noise(clean: Path, noisy: Path, snr_db: float, rng: np.random.Generator) -> Path:
    """``clean`` with white Gaussian noise at ``snr_db`` (power of the speech's voiced
    part, its samples above 1% of the peak, over the noise's)."""
    samples, rate = read_wav(clean)
    voiced = samples[np.abs(samples) > 0.01 * float(np.max(np.abs(samples)))]
    power = float(np.mean(voiced**2)) if voiced.size else 0.0
    noise = rng.standard_normal(samples.size).astype(np.float32)
    return write_wav(noisy, samples + noise * np.sqrt(power / 10 ** (snr_db / 10)), rate)


def audio_seconds(path: Path) -> float:
    with wave.open(str(path)) as fh:
        return fh.getnframes() / fh.getframerate()


def word_errors(said: Sequence[str], heard: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning ``said`` into ``heard`` (word-level
    Levenshtein distance); the word error rate is their sum over the words said."""
    row = list(range(len(heard) + 1))
    for i, word in enumerate(said, start=1):
        prev, row[0] = row[0], i
        for j, other in enumerate(heard, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != other))
    return row[-1]
