"""Sound track and subtitle decoding on real files PyAV writes (with and without)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from vidsearch.media.audio import decode_audio
from vidsearch.media.errors import CorruptMediaError, EmptyMediaError, MediaLimitError
from vidsearch.media.sandbox import sandboxed_decode_audio
from vidsearch.media.subtitles import Cue, read_subtitle_cues, read_subtitles
from vidsearch.media.synthetic import render_video, write_video

FPS, SR = 8.0, 16_000


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return render_video(11, 3.0, FPS, 64, 48)


def _tone(seconds: float, rate: int = SR, hz: float = 440.0) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)


@pytest.mark.parametrize("name", ["v.mp4", "v.mkv"])
def test_sound_track_comes_back_at_16k_mono(tmp_path: Path, frames: np.ndarray,
                                            name: str) -> None:
    tone = _tone(3.0)
    path = write_video(tmp_path / name, frames, FPS, audio=tone)
    sound = decode_audio(path)
    assert sound.dtype == np.float32 and sound.ndim == 1
    assert abs(len(sound) - len(tone)) < 2048  # AAC pads its last frame
    n = min(len(sound), len(tone))
    assert np.corrcoef(sound[:n], tone[:n])[0, 1] > 0.99  # aligned, not just similar


def test_other_rates_are_resampled(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_video(tmp_path / "v.mp4", frames, FPS, audio=_tone(3.0, 44_100, 1000.0),
                       sample_rate=44_100)
    sound = decode_audio(path)
    assert abs(len(sound) - 3 * SR) < 2048
    spectrum = np.abs(np.fft.rfft(sound[SR : 2 * SR]))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=2)  # 1 Hz bins over 1 s


def test_video_without_sound_is_empty_not_an_error(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_video(tmp_path / "silent.mp4", frames, FPS)
    assert decode_audio(path).shape == (0,)
    assert decode_audio(path.read_bytes()).shape == (0,)


def test_bytes_and_file_objects(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_video(tmp_path / "v.mp4", frames, FPS, audio=_tone(3.0))
    data = path.read_bytes()
    np.testing.assert_array_equal(decode_audio(data), decode_audio(io.BytesIO(data)))


def test_duration_limit(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_video(tmp_path / "v.mp4", frames, FPS, audio=_tone(3.0))
    with pytest.raises(MediaLimitError, match="limit is 1 s"):
        decode_audio(path, max_duration_s=1.0)


def test_bad_inputs_are_media_errors(tmp_path: Path) -> None:
    with pytest.raises(EmptyMediaError):
        decode_audio(b"")
    with pytest.raises(CorruptMediaError):
        decode_audio(b"not a video at all" * 100)


@pytest.mark.parametrize("name", ["v.mp4", "v.mkv"])
def test_subtitle_stream_is_read(tmp_path: Path, frames: np.ndarray, name: str) -> None:
    cues = [Cue(0.0, 1.5, r"a red {\i1}ring{\i0}"), Cue(2.0, 3.0, r"spinning\Nfast")]
    path = write_video(tmp_path / name, frames, FPS, audio=_tone(3.0), subtitles=cues)
    assert read_subtitle_cues(path) == [Cue(0.0, 1.5, "a red ring"),
                                        Cue(2.0, 3.0, "spinning fast")]
    assert read_subtitles(path) == "a red ring spinning fast"
    assert read_subtitles(path, max_chars=5) == "a red"


def test_no_subtitles_is_empty(tmp_path: Path, frames: np.ndarray) -> None:
    assert read_subtitles(write_video(tmp_path / "v.mp4", frames, FPS)) == ""


def test_sandboxed_decode_gives_the_same_sound_and_errors(tmp_path: Path,
                                                           frames: np.ndarray) -> None:
    path = write_video(tmp_path / "v.mp4", frames, FPS, audio=_tone(3.0))
    np.testing.assert_array_equal(sandboxed_decode_audio(path, timeout_s=30),
                                  decode_audio(path))
    silent = write_video(tmp_path / "silent.mp4", frames, FPS)
    assert sandboxed_decode_audio(silent.read_bytes(), timeout_s=30).shape == (0,)
    with pytest.raises(MediaLimitError, match="the uploaded data lasts 3 s"):
        sandboxed_decode_audio(path.read_bytes(), max_duration_s=1.0, timeout_s=30)
