"""Sound tracks for the generated videos: what is heard depends on what is shown.

Tag suggestion (seed 004) fuses frames, sound and title; to learn from sound, the
generated videos need sound that carries facts. Each scene of ``media.synthetic``
sounds its two largest shapes:

- **timbre per shape kind** (pure tone for a disk, bell partials for a ring, square wave
  for a rectangle, ...), pitch by size (larger is lower), the largest shape louder;
- **rhythm per motion**: a shape drifting right pulses once per beat, left twice, up
  fast with a rising glide, down slowly with a falling one; a shape without drift
  warbles when it spins and hums steadily when it hovers;
- **cuts with the scenes**: the sound changes at the frame where the picture cuts, and
  every scene has its own background-noise colour and level;
- optional **spoken narration** (Debian's ``espeak-ng``), mixed in by the caller;
  ``speak`` also voices the spoken queries of `vidsearch eval sentences`.

Everything is a function of the seed, drawn from random streams the picture never uses,
so the frames of every seed stay exactly what they were.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.signal import lfilter, resample_poly

from vidsearch.media import synthetic
from vidsearch.media.mfcc import SAMPLE_RATE
from vidsearch.media.subtitles import Cue

# Partials of each shape kind: (frequency ratio to the fundamental, amplitude).
TIMBRES: dict[str, tuple[tuple[float, float], ...]] = {
    "disk": ((1.0, 1.0),),
    "ellipse": ((1.0, 1.0), (2.0, 0.5), (3.0, 0.15)),
    "rect": tuple((float(k), 1.0 / k) for k in (1, 3, 5, 7, 9)),
    "ring": ((1.0, 1.0), (2.76, 0.6), (5.40, 0.4), (8.93, 0.25)),
    # Not a triangle wave: its 1/k^2 partials sound almost like the disk's pure tone.
    "triangle": ((1.0, 1.0), (5.0, 0.8), (9.0, 0.3)),
    "cross": tuple((float(k), 1.0 / k) for k in range(1, 11)),
}
# One tempo per rhythm (not per speed), so a motion always sounds the same.
BEATS_PER_S = {"right": 2.0, "left": 2.0, "up": 3.5, "down": 1.25, "warble": 5.0}
_STILL_DRIFT = 0.02  # frame heights per second below which a shape has no direction
_SPIN = 0.7  # radians per second above which a still shape is heard spinning
_FADE_S = 0.005  # at a cut: short enough to be a cut, long enough not to click
_LEVELS = (0.30, 0.12)  # largest and second-largest shape
_NARRATION_LEVEL = 0.5
ESPEAK_RATE = 22_050  # Hz espeak-ng writes its voices at (mbrola voices aside)


def rhythm(vel: tuple[float, float], spin: float) -> str:
    """Which rhythm a shape's motion sounds as: right/left/up/down pulses, warble or hum."""
    vx, vy = vel
    if max(abs(vx), abs(vy)) < _STILL_DRIFT:
        return "warble" if abs(spin) > _SPIN else "hum"
    if abs(vx) >= abs(vy):
        return "right" if vx > 0 else "left"
    return "down" if vy > 0 else "up"


def shape_tone(kind: str, size: float, vel: tuple[float, float], spin: float,
               t: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """One shape's sound over scene times ``t`` (s): the timbre of its ``kind`` at a pitch
    set by its ``size`` (radius in frame heights), in the rhythm of its motion."""
    f0 = 140.0 * 0.25 / size  # 0.08 (small) -> ~440 Hz, 0.25 (large) -> 140 Hz
    pattern = rhythm(vel, spin)
    beat = (t * BEATS_PER_S.get(pattern, 1.0)) % 1.0
    if pattern == "warble":
        wobble = BEATS_PER_S["warble"]
        freq = f0 * (1.0 + 0.04 * np.sin(2 * np.pi * wobble * t))
        envelope = 0.6 + 0.4 * np.sin(2 * np.pi * wobble * t)
    elif pattern == "hum":
        freq, envelope = np.full_like(t, f0), np.ones_like(t)
    elif pattern in ("up", "down"):
        glide = beat if pattern == "up" else -beat
        freq, envelope = f0 * 2.0 ** (0.5 * glide), np.exp(-5.0 * beat)
    else:
        freq = np.full_like(t, f0)
        envelope = np.exp(-8.0 * beat)
        if pattern == "left":  # a second hit a quarter beat later
            second = beat - 0.25
            envelope = np.maximum(envelope, np.where(second >= 0, np.exp(-12.0 * second), 0.0))
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    nyquist = sample_rate / 2
    tone = sum((amp * np.sin(ratio * phase) for ratio, amp in TIMBRES[kind]
                if ratio * f0 * 2.0 ** 0.5 < nyquist), np.zeros_like(t))
    peak = sum(abs(amp) for _, amp in TIMBRES[kind])
    out: np.ndarray = tone / peak * envelope
    return out


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Background noise of a random colour (one-pole low-pass) at unit RMS."""
    pole = float(rng.uniform(0.0, 0.95))
    noise = lfilter([1.0 - pole], [1.0, -pole], rng.standard_normal(n))
    out: np.ndarray = noise / max(float(np.sqrt(np.mean(noise**2))), 1e-9)
    return out


def render_soundtrack(seed: int, duration_s: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The sound of video ``seed`` (first ``duration_s`` s): mono float32 in [-1, 1]."""
    if duration_s <= 0 or sample_rate <= 0:
        raise ValueError(f"bad soundtrack size: {duration_s=} {sample_rate=}")
    n = max(1, round(duration_s * sample_rate))
    out = np.zeros(n)
    style = synthetic._draw_style(np.random.default_rng([seed, 0, 2]))
    noise_level = float(np.random.default_rng([seed, 0, 7]).uniform(0.01, 0.06))
    fade = max(1, round(_FADE_S * sample_rate))
    for idx, (start, end) in enumerate(synthetic._scene_bounds(seed, duration_s)):
        # The whole scene, then cut: a shorter track is a prefix of a longer one.
        lo, hi = round(start * sample_rate), round(end * sample_rate)
        if lo >= n:
            continue
        scene = synthetic._draw_scene(seed, idx, start, end, style)
        t = np.arange(hi - lo) / sample_rate
        sound = _noise(np.random.default_rng([seed, idx, 7]), hi - lo) * noise_level
        main = sorted(scene.shapes, key=lambda s: -s.size)[: len(_LEVELS)]
        for level, shape in zip(_LEVELS, main, strict=False):
            sound += level * shape_tone(shape.kind, shape.size, shape.vel, shape.spin, t,
                                        sample_rate)
        ramp = np.minimum(1.0, np.minimum(np.arange(hi - lo) + 1, np.arange(hi - lo)[::-1] + 1)
                          / fade)
        out[lo : min(n, hi)] = (sound * ramp)[: min(n, hi) - lo]
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def mix(track: np.ndarray, voice: np.ndarray, start_s: float,
        sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``voice`` added to ``track`` from ``start_s`` on (cut at the track's end)."""
    out = track.astype(np.float32).copy()
    lo = round(start_s * sample_rate)
    part = voice[: max(0, len(out) - lo)]
    out[lo : lo + len(part)] += _NARRATION_LEVEL * part
    return np.clip(out, -1.0, 1.0)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(
    text: str, sample_rate: int = SAMPLE_RATE, *, voice: str = "en", speed_wpm: int = 160
) -> np.ndarray:
    """``text`` spoken by espeak-ng in ``voice`` at ``speed_wpm`` words per minute, mono
    float32 at ``sample_rate`` (at ``ESPEAK_RATE``: espeak-ng's own samples, unresampled).

    espeak-ng is a Debian package (``make speech``); without it this raises rather than
    silently generating a different data set."""
    if not espeak_available():
        raise RuntimeError("espeak-ng is not installed: run `make speech` (Debian espeak-ng)")
    with tempfile.TemporaryDirectory(prefix="vidsearch-speech-") as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed_wpm), "-w", str(wav), "--", text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        with wave.open(str(wav), "rb") as reader:
            rate, width = reader.getframerate(), reader.getsampwidth()
            raw = reader.readframes(reader.getnframes())
    if width != 2:
        raise RuntimeError(f"espeak-ng wrote {8 * width}-bit samples; expected 16-bit PCM")
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    gcd = int(np.gcd(rate, sample_rate))
    out: np.ndarray = resample_poly(samples, sample_rate // gcd, rate // gcd).astype(np.float32)
    return out


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """``samples`` (mono, clipped to [-1, 1]) as a 16-bit PCM WAV file, e.g. a spoken
    query to upload."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm.tobytes())
    return path


def generate_video_with_sound(
    path: str | Path,
    seed: int,
    duration_s: float,
    fps: float = 8.0,
    width: int = 160,
    height: int = 120,
    *,
    narration: str | None = None,
    narration_start_s: float = 0.5,
    subtitles: Sequence[Cue] = (),
) -> Path:
    """Render video ``seed`` with its sound track (and ``narration`` spoken over it) and
    write it as H.264 + AAC; the frames are exactly those of ``synthetic.render_video``."""
    track = render_soundtrack(seed, duration_s)
    if narration:
        track = mix(track, speak(narration), narration_start_s)
    frames = synthetic.render_video(seed, duration_s, fps, width, height)
    return synthetic.write_video(path, frames, fps, audio=track, sample_rate=SAMPLE_RATE,
                                 subtitles=subtitles)
