"""decode.py on real files PyAV writes: containers, sampling, sources and every error."""

from __future__ import annotations

import inspect
import io
import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from vidsearch.media.decode import decode_video, iter_frames, probe_video
from vidsearch.media.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaLimitError,
    NoVideoStreamError,
)
from vidsearch.media.synthetic import render_video, write_video

FPS = 8.0


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return render_video(11, 5.0, FPS, 64, 48)  # 40 frames


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory, frames: np.ndarray) -> Path:
    return write_video(tmp_path_factory.mktemp("dec") / "v.mp4", frames, FPS)


@pytest.fixture(scope="module")
def mkv(tmp_path_factory: pytest.TempPathFactory, frames: np.ndarray) -> Path:
    return write_video(tmp_path_factory.mktemp("dec") / "v.mkv", frames, FPS)


def test_mp4_h264_sampled_at_one_fps_by_timestamp(mp4: Path) -> None:
    video = decode_video(mp4, fps=1.0, size=32)
    assert video.frames.shape == (5, 32, 32, 3) and video.frames.dtype == np.uint8
    np.testing.assert_allclose(video.timestamps, [0, 1, 2, 3, 4], atol=1e-6)
    assert video.codec == "h264" and video.duration_s == pytest.approx(5.0, abs=0.2)
    assert (video.width, video.height) == (64, 48)


@pytest.mark.parametrize(
    ("name", "codec"), [("v.mkv", "libvpx-vp9"), ("v.avi", "mpeg4"), ("v.ts", "libx264")]
)
def test_other_containers_and_codecs(
    tmp_path: Path, frames: np.ndarray, name: str, codec: str
) -> None:
    if codec not in av.codecs_available:
        pytest.skip(f"{codec} not in this FFmpeg build")
    path = write_video(tmp_path / name, frames, FPS, codec=codec)
    video = decode_video(path, fps=2.0, size=16)
    assert len(video.frames) == 10
    np.testing.assert_allclose(video.timestamps, np.arange(10) / 2.0, atol=0.07)
    full = decode_video(path, fps=FPS, size=16).frames
    assert full.shape[0] == len(frames)


def test_probe_reads_header(mp4: Path) -> None:
    p = probe_video(mp4)
    assert (p.width, p.height, p.codec, p.has_audio) == (64, 48, "h264", False)
    assert p.fps == pytest.approx(FPS) and p.duration_s == pytest.approx(5.0, abs=0.2)


def test_center_crop_vs_stretch(tmp_path: Path) -> None:
    """A 2:1 frame whose left quarter is red: stretch keeps it, center_crop cuts it off."""
    img = np.full((4, 48, 96, 3), 40, dtype=np.uint8)
    img[:, :, :24] = (230, 20, 20)
    path = write_video(tmp_path / "wide.mp4", img, FPS)
    stretch = decode_video(path, size=32, resize_mode="stretch").frames[0]
    crop = decode_video(path, size=32, resize_mode="center_crop").frames[0]
    assert stretch.shape == crop.shape == (32, 32, 3)
    assert stretch[:, :4, 0].mean() > 180  # red border kept
    assert crop[:, :, 0].max() < 120  # the crop shows only the grey middle


def test_bytes_and_file_object_sources(mp4: Path) -> None:
    from_path = decode_video(mp4, size=16).frames
    data = mp4.read_bytes()
    np.testing.assert_array_equal(decode_video(data, size=16).frames, from_path)
    np.testing.assert_array_equal(decode_video(io.BytesIO(data), size=16).frames, from_path)
    with mp4.open("rb") as fh:
        np.testing.assert_array_equal(decode_video(fh, size=16).frames, from_path)


def test_zero_bytes_is_empty(tmp_path: Path) -> None:
    with pytest.raises(EmptyMediaError):
        decode_video(b"")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(EmptyMediaError):
        decode_video(tmp_path / "empty.mp4")


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(0).bytes(5000),
        b"this is a text file, not a video\n" * 40,
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + np.random.default_rng(1).bytes(3000),
    ],
    ids=["random", "text", "jpeg-header"],
)
def test_garbage_is_corrupt(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(CorruptMediaError):
        decode_video(data)
    (tmp_path / "x.mp4").write_bytes(data)
    with pytest.raises(CorruptMediaError):
        decode_video(tmp_path / "x.mp4")


def test_audio_only_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        tone = np.sin(2 * np.pi * 440 * np.arange(32000) / 16000) * 0.3
        frame = av.AudioFrame.from_ndarray(
            tone.astype(np.float32)[None], format="fltp", layout="mono"
        )
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(NoVideoStreamError, match="audio"):
        decode_video(path)
    with pytest.raises(NoVideoStreamError):
        probe_video(path)


def test_limits(mp4: Path) -> None:
    with pytest.raises(MediaLimitError, match="pixels"):
        decode_video(mp4, max_pixels=64 * 48 - 1)
    with pytest.raises(MediaLimitError):
        decode_video(mp4, max_duration_s=2.0)
    with pytest.raises(MediaLimitError):
        decode_video(mp4, fps=1.0, max_frames=2)
    assert len(decode_video(mp4, fps=1.0, max_frames=5, max_pixels=64 * 48).frames) == 5


def test_truncated_mkv_keeps_frames_before_the_cut(mkv: Path) -> None:
    data = mkv.read_bytes()
    video = decode_video(data[: len(data) * 6 // 10], fps=FPS, size=16)
    assert 5 <= len(video.frames) < 40
    full = decode_video(data, fps=FPS, size=16).frames
    np.testing.assert_array_equal(video.frames[:5], full[:5])


def test_truncated_mp4_with_index_at_end_is_corrupt(mp4: Path) -> None:
    data = mp4.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat")  # index written after the media data
    with pytest.raises(CorruptMediaError):
        decode_video(data[: len(data) * 6 // 10])


class _CountingReader(io.BytesIO):
    """Counts bytes handed to the demuxer, to show decoding streams."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, n: int | None = -1) -> bytes:
        chunk = super().read(n)
        self.bytes_read += len(chunk)
        return chunk


def test_iter_frames_streams(tmp_path: Path) -> None:
    long = render_video(12, 40.0, FPS, 64, 48)
    path = write_video(tmp_path / "long.mkv", long, FPS, crf=10)
    data = path.read_bytes()
    reader = _CountingReader(data)
    frames = iter_frames(reader, fps=1.0, size=16)
    first = list(itertools.islice(frames, 1))
    assert inspect.isgenerator(frames)
    assert len(first) == 1 and first[0].time_s == 0.0
    assert reader.bytes_read < len(data) // 2  # the rest of the file was never read
    frames.close()


def test_skipping_nonreference_frames_samples_the_next_reference_frame(tmp_path: Path) -> None:
    """H.264 with B-frames: each sample is the first reference frame at or after its tick,
    so some samples move a few frames later and none moves earlier; other codecs are
    sampled exactly as before."""
    fps = 25.0
    clip = render_video(5, 6.0, fps, 96, 64)
    h264 = write_video(tmp_path / "b.mp4", clip, fps)  # libx264 veryfast: B-frames
    plain = decode_video(h264, fps=1.0, size=32)
    skipped = decode_video(h264, fps=1.0, size=32, skip_nonreference=True)
    assert len(skipped.timestamps) == len(plain.timestamps) == 6
    delay = skipped.timestamps - plain.timestamps
    assert np.all(delay >= 0) and np.all(delay <= 4 / fps + 1e-6)
    assert np.any(delay > 0), "no tick fell on a non-reference frame: nothing was skipped"
    mpeg4 = write_video(tmp_path / "m.avi", clip, fps, codec="mpeg4", crf=None)
    np.testing.assert_array_equal(
        decode_video(mpeg4, fps=1.0, size=32, skip_nonreference=True).timestamps,
        decode_video(mpeg4, fps=1.0, size=32).timestamps,
    )


def test_skipping_deblocking_keeps_the_samples_and_nearly_their_pixels(tmp_path: Path) -> None:
    """Without H.264's loop filter the same frames are sampled at the same times; block
    edges stay (the pixels differ) but, shrunk to the encoder's size, barely."""
    fps = 25.0
    clip = render_video(7, 4.0, fps, 320, 240)
    h264 = write_video(tmp_path / "blocky.mp4", clip, fps, crf=40)  # strong deblocking
    plain = decode_video(h264, fps=1.0, size=64)
    skipped = decode_video(h264, fps=1.0, size=64, skip_deblocking=True)
    np.testing.assert_array_equal(skipped.timestamps, plain.timestamps)
    diff = np.abs(skipped.frames.astype(np.int16) - plain.frames.astype(np.int16))
    assert diff.max() > 0, "the loop filter still ran"
    assert diff.mean() < 3.0  # of 255
