"""The generated sound tracks carry what the picture shows: kind, motion and cuts."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from vidsearch.media import synthetic
from vidsearch.media.audio import decode_audio
from vidsearch.media.mfcc import mfcc
from vidsearch.media.subtitles import Cue, read_subtitles
from vidsearch.media.synthetic_audio import (
    BEATS_PER_S,
    ESPEAK_RATE,
    TIMBRES,
    espeak_available,
    generate_video_with_sound,
    render_soundtrack,
    rhythm,
    shape_tone,
    speak,
    write_wav,
)
from vidsearch.training.facts import motion_word

SR = 16_000
T = np.arange(2 * SR) / SR
STILL = (0.0, 0.0)


def _brightness(signal: np.ndarray, f0: float) -> float:
    """Spectral centroid in multiples of the fundamental."""
    spectrum = np.abs(np.fft.rfft(signal)) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1 / SR)
    return float((spectrum * freqs).sum() / spectrum.sum() / f0)


def test_each_shape_kind_has_its_own_timbre() -> None:
    size = 0.2  # f0 = 175 Hz
    bright = {k: _brightness(shape_tone(k, size, STILL, 0.0, T), 140 * 0.25 / size)
              for k in TIMBRES}
    assert bright["disk"] == pytest.approx(1.0, abs=0.02)  # a pure tone
    values = sorted(bright.values())
    assert min(np.diff(values)) > 0.05, bright  # six distinguishable timbres
    # The MFCC (what the audio branch sees) separates them too, at another pitch.
    means = {k: mfcc(shape_tone(k, 0.1, STILL, 0.0, T))[:, 1:].mean(0) for k in TIMBRES}
    kinds = list(means)
    closest = min(np.linalg.norm(means[a] - means[b])
                  for i, a in enumerate(kinds) for b in kinds[i + 1 :])
    assert closest > 1.0


def test_larger_shapes_sound_lower() -> None:
    peaks = [np.argmax(np.abs(np.fft.rfft(shape_tone("disk", s, STILL, 0.0, T))))
             for s in (0.08, 0.15, 0.25)]
    assert peaks[0] > peaks[1] > peaks[2]


def _envelope_rate(signal: np.ndarray) -> float:
    """Strongest modulation frequency (Hz) of the 10 ms RMS envelope."""
    rms = np.sqrt((signal[: len(signal) // 160 * 160].reshape(-1, 160) ** 2).mean(1))
    spectrum = np.abs(np.fft.rfft(rms - rms.mean()))
    return float(np.fft.rfftfreq(len(rms), 0.01)[np.argmax(spectrum)])


def test_rhythm_follows_motion() -> None:
    assert rhythm((0.1, 0.01), 0.0) == "right" and rhythm((-0.1, 0.0), 0.0) == "left"
    assert rhythm((0.01, -0.1), 0.0) == "up" and rhythm((0.0, 0.1), 0.0) == "down"
    assert rhythm(STILL, 1.0) == "warble" and rhythm(STILL, 0.1) == "hum"
    for vel, pattern in (((0.1, 0.0), "right"), ((0.05, 0.0), "right"), ((0.0, -0.1), "up"),
                         ((0.0, 0.1), "down")):  # one tempo per motion, whatever the speed
        rate = _envelope_rate(shape_tone("disk", 0.15, vel, 0.0, T))
        assert rate == pytest.approx(BEATS_PER_S[pattern], abs=0.5)
    hum = shape_tone("disk", 0.15, STILL, 0.0, T)
    rms = np.sqrt((hum.reshape(-1, 160) ** 2).mean(1))
    assert rms.std() < 0.05 * rms.mean()  # hovering: a steady hum (pulses vary by 50%+)
    warble = _envelope_rate(shape_tone("disk", 0.15, STILL, 1.0, T))
    assert warble == pytest.approx(BEATS_PER_S["warble"], abs=0.5)
    # Left: two hits a beat, so the envelope differs from right's at the same speed.
    right = shape_tone("rect", 0.15, (0.1, 0.0), 0.0, T)
    left = shape_tone("rect", 0.15, (-0.1, 0.0), 0.0, T)
    assert np.abs(left).sum() > 1.2 * np.abs(right).sum()


def test_up_glides_up_and_down_glides_down() -> None:
    def pitch_trend(vel: tuple[float, float]) -> float:
        tone = shape_tone("disk", 0.15, vel, 0.0, T)
        frames = tone[: len(tone) // 400 * 400].reshape(-1, 400)
        pitch = np.argmax(np.abs(np.fft.rfft(frames, 4096)), axis=1)
        return float(np.median(np.diff(pitch)))

    assert pitch_trend((0.0, -0.1)) > 0 > pitch_trend((0.0, 0.1))


def test_scene_sound_tells_main_shape_kind_and_motion() -> None:
    """End to end over generated videos (two shapes and noise in every scene): the nearest
    other scene by sound shares the main shape's kind, and its motion, far above chance.
    The main shape is the loudest, the largest drawn one, whether or not it is in view."""
    timbre, tempo, kinds, motions = [], [], [], []
    for seed in range(50):
        coeffs = mfcc(render_soundtrack(seed, 20.0))
        style = synthetic._draw_style(np.random.default_rng([seed, 0, 2]))
        for idx, (start, end) in enumerate(synthetic._scene_bounds(seed, 20.0)):
            part = coeffs[int(start * 100) + 20 : int(min(end, 20.0) * 100) - 20]
            if len(part) < 200:
                continue
            loudest = max(synthetic._draw_scene(seed, idx, start, end, style).shapes,
                          key=lambda s: s.size)
            energy = part[:, 0] - part[:, 0].mean()
            lags = [energy[:-k] @ energy[k:] / (energy @ energy) for k in range(1, 80)]
            timbre.append(np.concatenate([part[:, 1:].mean(0), part[:, 1:].std(0)]))
            tempo.append(np.array(lags))
            kinds.append(loudest.kind)
            motions.append(motion_word(loudest.vel, loudest.wobble, loudest.spin))

    def nearest_agrees(features: list[np.ndarray], labels: list[str | None]) -> tuple[float, float]:
        keep = [i for i, label in enumerate(labels) if label is not None]
        x = np.stack([features[i] for i in keep])
        x = (x - x.mean(0)) / (x.std(0) + 1e-9)
        y = np.array([labels[i] for i in keep])
        d = ((x[:, None] - x[None]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        chance = max(float(np.mean(y == v)) for v in set(y))
        return float(np.mean(y[d.argmin(1)] == y)), chance

    kind_hit, kind_chance = nearest_agrees(timbre, list(kinds))
    motion_hit, motion_chance = nearest_agrees(tempo, motions)
    assert kind_hit > 2.5 * kind_chance, (kind_hit, kind_chance)
    assert motion_hit > motion_chance + 0.2, (motion_hit, motion_chance)


def test_sound_changes_at_the_scene_cuts() -> None:
    """At each cut sample the track dips (scenes are separate sounds, faded over 5 ms),
    and the spectrum 1 s either side of a cut differs far more than elsewhere."""
    ratios = []
    for seed in range(6):
        duration = 25.0
        track = render_soundtrack(seed, duration)
        coeffs = mfcc(track)[:, 1:]
        win = 100  # 1 s each side: several beats, so the rhythm mostly averages out
        change = np.array([np.linalg.norm(coeffs[i - win : i].mean(0) - coeffs[i : i + win].mean(0))
                           for i in range(win, len(coeffs) - win)])
        for start, _ in synthetic._scene_bounds(seed, duration)[1:]:
            if start > duration - 1.0:
                continue
            cut = round(start * SR)
            assert np.abs(track[cut - 2 : cut + 2]).max() < 0.01  # the dip is at the cut
            ratios.append(change[round(start * 100) - win] / np.median(change))
    assert len(ratios) >= 15
    assert np.median(ratios) > 3.0 and np.mean(np.array(ratios) > 1.5) >= 0.8, sorted(ratios)


def test_soundtrack_is_deterministic_and_differs_by_seed() -> None:
    a, b = render_soundtrack(7, 5.0), render_soundtrack(7, 5.0)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and len(a) == 5 * SR and np.abs(a).max() <= 1.0
    assert not np.allclose(a, render_soundtrack(8, 5.0))
    np.testing.assert_array_equal(render_soundtrack(7, 3.0), a[: 3 * SR])  # prefixes


def test_video_with_sound_keeps_its_frames_and_carries_the_track(tmp_path: Path) -> None:
    path = generate_video_with_sound(tmp_path / "v.mp4", 4, 4.0, width=64, height=48,
                                     subtitles=[Cue(0.5, 2.0, "a ring")])
    sound, track = decode_audio(path), render_soundtrack(4, 4.0)
    n = min(len(sound), len(track))
    assert np.corrcoef(sound[:n], track[:n])[0, 1] > 0.95
    assert read_subtitles(path) == "a ring"
    silent = synthetic.generate_video_file(tmp_path / "silent.mp4", 4, 4.0, width=64, height=48)

    def error(file: Path, seed: int) -> float:  # x264 is not bit-exact run to run: compare
        with av.open(str(file)) as container:  # to the rendered frames, at native size
            decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        rendered = synthetic.render_video(seed, 4.0, 8.0, 64, 48)
        return float(np.abs(decoded.astype(int) - rendered).mean())

    assert error(path, 4) == pytest.approx(error(silent, 4), abs=1.0)  # same picture, same loss
    assert error(path, 5) > 3 * error(path, 4)  # and the loss is not another picture's


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed: run `make speech`")
def test_narration_is_speech_mixed_in(tmp_path: Path) -> None:
    voice = speak("a large red ring spinning")
    assert voice.dtype == np.float32 and 0.8 * SR < len(voice) < 4 * SR
    np.testing.assert_array_equal(voice, speak("a large red ring spinning"))  # deterministic
    path = generate_video_with_sound(tmp_path / "v.mp4", 4, 4.0, width=64, height=48,
                                     narration="a large red ring spinning")
    sound, track = decode_audio(path), render_soundtrack(4, 4.0)
    n = min(len(sound), len(track))
    assert np.corrcoef(sound[:n], track[:n])[0, 1] < 0.9  # the voice is really there


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed: run `make speech`")
def test_a_voice_at_espeak_rate_is_espeak_ngs_own_samples(tmp_path: Path) -> None:
    """What `eval sentences` uploads: espeak-ng's samples in the asked voice and speed,
    written back to 16-bit PCM within one step of what espeak-ng wrote."""
    text = "a small green cross moving left"
    said = speak(text, ESPEAK_RATE, voice="en-gb-scotland", speed_wpm=140)
    own = tmp_path / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "en-gb-scotland", "-s", "140", "-w", str(own), text],
                   check=True, capture_output=True)  # fmt: skip

    def pcm(path: Path) -> tuple[int, np.ndarray]:
        with wave.open(str(path)) as fh:
            return fh.getframerate(), np.frombuffer(fh.readframes(fh.getnframes()), "<i2")

    rate, expected = pcm(own)
    assert rate == ESPEAK_RATE
    np.testing.assert_array_equal(said, expected.astype(np.float32) / 32768)
    assert len(said) != len(speak(text, ESPEAK_RATE, voice="en-us", speed_wpm=140))
    rate, written = pcm(write_wav(tmp_path / "upload.wav", said, ESPEAK_RATE))
    assert rate == ESPEAK_RATE
    assert np.abs(written.astype(int) - expected).max() <= 1
