"""Decode any container/codec PyAV reads into frames sampled by timestamp.

Frames stream packet by packet: a long video never sits in memory whole, and a damaged
tail costs only the frames after the damage (what decoded before it is kept).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import av
import numpy as np

from vidsearch.media.errors import (
    SOURCE,
    CorruptMediaError,
    DecodeTimeoutError,
    EmptyMediaError,
    MediaLimitError,
    NoVideoStreamError,
    UnsupportedMediaError,
)

Source = str | Path | bytes | BinaryIO
# Codecs whose non-reference frames FFmpeg can skip and that always have reference frames
# to sample (an intra-only codec may mark none, and skipping would leave nothing).
SKIPPABLE_CODECS = frozenset({"h264", "hevc"})
ResizeMode = Literal["stretch", "center_crop"]


@dataclass(frozen=True)
class SampledFrame:
    time_s: float
    rgb: np.ndarray  # uint8 [size, size, 3]


@dataclass(frozen=True)
class VideoProbe:
    duration_s: float
    width: int
    height: int
    fps: float
    codec: str
    container: str
    has_audio: bool


@dataclass(frozen=True)
class DecodedVideo:
    frames: np.ndarray  # uint8 [T, S, S, 3]
    timestamps: np.ndarray  # float64 [T]
    duration_s: float
    width: int
    height: int
    codec: str
    container: str


def source_name(source: Source) -> str:
    """What error messages call ``source`` (see MediaError: a client never sees it)."""
    return str(source) if isinstance(source, str | Path) else "the uploaded data"


def open_container(source: Source) -> av.container.InputContainer:
    """Open ``source`` for reading; every failure is a :class:`MediaError` naming it."""
    if isinstance(source, bytes | bytearray):
        if not source:
            raise EmptyMediaError(f"{SOURCE} is empty (0 bytes)", source_name(source))
        source = io.BytesIO(source)
    elif isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise EmptyMediaError(f"{SOURCE} does not exist", str(path))
        if path.stat().st_size == 0:
            raise EmptyMediaError(f"{SOURCE} is empty (0 bytes)", str(path))
    try:
        # metadata_errors: a hostile file's tags need not be UTF-8 (strict would raise
        # UnicodeDecodeError, an unexpected error instead of a media error).
        return av.open(
            source if not isinstance(source, Path) else str(source),
            mode="r",
            metadata_errors="replace",
        )
    except av.error.FFmpegError as exc:
        # strerror, never str(exc): FFmpeg's own text ends with the file's path.
        reason = getattr(exc, "strerror", None) or "unknown reason"
        raise CorruptMediaError(
            f"{SOURCE} is not a video file that can be read ({exc.__class__.__name__}: "
            f"{reason}); send an MP4, MKV, WebM, MOV or AVI file",
            source_name(source),
        ) from exc


def _video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
    if not container.streams.video:
        kinds: list[str] = sorted({str(s.type) for s in container.streams}) or ["no streams"]
        raise NoVideoStreamError(
            f"{SOURCE} has no video stream (found: {', '.join(kinds)}); send a file with video",
            name,
        )
    stream = container.streams.video[0]
    if stream.codec_context is None:  # a codec id FFmpeg has no decoder for
        raise UnsupportedMediaError(
            f"{SOURCE} uses a video codec this server cannot decode; re-encode it as H.264", name
        )
    return stream


def stream_duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    """Declared duration (s) of ``stream``, else of the container, else 0."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration / av.time_base)
    return 0.0


def check_declared_duration(container: av.container.InputContainer, stream: av.stream.Stream,
                            max_duration_s: float | None, name: str) -> None:
    """Refuse a stream whose header already says it is too long (before decoding it)."""
    declared = stream_duration(container, stream)
    if max_duration_s is not None and declared > max_duration_s:
        raise MediaLimitError(
            f"{SOURCE} lasts {declared:.0f} s; the limit is {max_duration_s:.0f} s — "
            "cut it into shorter parts",
            name,
        )


def guarded_packets(container: av.container.InputContainer, stream: av.stream.Stream, *,
                    name: str, started: float, timeout_s: float | None,
                    interrupt: Callable[[], None] | None, what: str, advice: str
                    ) -> Iterator[av.Packet]:
    """The stream's packets, calling ``interrupt`` before each and raising a
    :class:`DecodeTimeoutError` ("decoding WHAT took over N s; ADVICE") past ``timeout_s``."""
    for packet in container.demux(stream):
        if interrupt is not None:
            interrupt()
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise DecodeTimeoutError(
                f"decoding {what} took over {timeout_s:.0f} s; {advice}", name)
        yield packet


def probe_video(source: Source) -> VideoProbe:
    """Read the header only: duration, size, rate and codec."""
    container = open_container(source)
    try:
        stream = _video_stream(container, source_name(source))
        rate = stream.average_rate or stream.guessed_rate
        return VideoProbe(
            duration_s=stream_duration(container, stream),
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            fps=float(rate) if rate else 0.0,
            codec=str(stream.codec_context.name),
            container=str(container.format.name),
            has_audio=bool(container.streams.audio),
        )
    finally:
        container.close()


def _resize(frame: av.VideoFrame, size: int, mode: ResizeMode) -> np.ndarray:
    if mode == "stretch":
        return frame.to_ndarray(width=size, height=size, format="rgb24")
    w, h = frame.width, frame.height
    scale = size / min(w, h)
    rw, rh = max(size, round(w * scale)), max(size, round(h * scale))
    rgb = frame.to_ndarray(width=rw, height=rh, format="rgb24")
    top, left = (rh - size) // 2, (rw - size) // 2
    return np.ascontiguousarray(rgb[top : top + size, left : left + size])


def iter_frames(
    source: Source,
    *,
    fps: float = 1.0,
    size: int = 64,
    resize_mode: ResizeMode = "stretch",
    max_frames: int | None = None,
    max_pixels: int | None = None,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
    interrupt: Callable[[], None] | None = None,
    skip_nonreference: bool = False,
    skip_deblocking: bool = False,
) -> Iterator[SampledFrame]:
    """Yield the first frame at or after each 1/fps tick, resized to ``size`` x ``size``.

    ``interrupt`` is called before each packet; whatever it raises stops the decode (a
    cancelled or late request must not keep the decoder busy). ``skip_nonreference``: in
    H.264 / HEVC streams, do not decode the frames no other frame refers to (most B-frames,
    often half the frames): sparse sampling then takes the first *reference* frame at or
    after each tick, a few frames later at most, for a fraction of the decoding.
    ``skip_deblocking``: in those codecs, skip the in-loop deblocking filter (block edges
    stay, invisible once a frame is shrunk to ``size``; about a fifth of H.264 decoding)."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    name = source_name(source)
    started = time.monotonic()
    container = open_container(source)
    try:
        stream = _video_stream(container, name)
        width, height = stream.codec_context.width, stream.codec_context.height
        if max_pixels is not None and width * height > max_pixels:
            raise MediaLimitError(
                f"{SOURCE} is {width}x{height}; this server decodes at most {max_pixels} pixels "
                "per frame — downscale the video first",
                name,
            )
        check_declared_duration(container, stream, max_duration_s, name)
        stream.thread_type = "AUTO"
        if skip_nonreference and stream.codec_context.name in SKIPPABLE_CODECS:
            stream.codec_context.skip_frame = "NONREF"
        if skip_deblocking and stream.codec_context.name in SKIPPABLE_CODECS:
            stream.codec_context.options = {"skip_loop_filter": "all"}  # read when it opens
        step = 1.0 / fps
        next_tick = 0.0
        kept = 0
        first_time: float | None = None
        try:
            for packet in guarded_packets(container, stream, name=name, started=started,
                                          timeout_s=timeout_s, interrupt=interrupt,
                                          what=SOURCE, advice="send a shorter or smaller video"):
                for frame in packet.decode():
                    if frame.time is None:
                        continue
                    if first_time is None:
                        first_time = float(frame.time)
                    t = float(frame.time) - first_time
                    if max_duration_s is not None and t > max_duration_s:
                        raise MediaLimitError(
                            f"{SOURCE} runs past {max_duration_s:.0f} s; cut it into shorter "
                            "parts",
                            name,
                        )
                    if t + 1e-6 < next_tick:
                        continue
                    if max_frames is not None and kept >= max_frames:
                        raise MediaLimitError(
                            f"{SOURCE} has more than {max_frames} sampled frames at {fps} fps; "
                            "send a shorter video",
                            name,
                        )
                    yield SampledFrame(time_s=t, rgb=_resize(frame, size, resize_mode))
                    kept += 1
                    next_tick = (np.floor(t / step + 1e-6) + 1) * step
        except av.error.FFmpegError as exc:
            if kept == 0:
                raise CorruptMediaError(
                    f"{SOURCE} could not be decoded ({exc.__class__.__name__}); the file is "
                    "damaged or not a video",
                    name,
                ) from exc
            # A truncated tail: keep what decoded before the damage.
        if kept == 0:
            raise EmptyMediaError(f"{SOURCE} contains no decodable video frame", name)
    finally:
        container.close()


def decode_video(
    source: Source,
    *,
    fps: float = 1.0,
    size: int = 64,
    resize_mode: ResizeMode = "stretch",
    max_frames: int | None = None,
    max_pixels: int | None = None,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
    interrupt: Callable[[], None] | None = None,
    skip_nonreference: bool = False,
    skip_deblocking: bool = False,
) -> DecodedVideo:
    """All sampled frames of a video (at ``fps``), with their times and the duration."""
    if not isinstance(source, str | Path | bytes | bytearray):
        source = source.read()  # read once: the header probe and the decode both need it
    probe = probe_video(source)
    sampled = list(
        iter_frames(
            source,
            fps=fps,
            size=size,
            resize_mode=resize_mode,
            max_frames=max_frames,
            max_pixels=max_pixels,
            max_duration_s=max_duration_s,
            timeout_s=timeout_s,
            interrupt=interrupt,
            skip_nonreference=skip_nonreference,
            skip_deblocking=skip_deblocking,
        )
    )
    times = np.array([f.time_s for f in sampled], dtype=np.float64)
    duration = probe.duration_s if probe.duration_s > 0 else float(times[-1] + 1.0 / fps)
    return DecodedVideo(
        frames=np.stack([f.rgb for f in sampled]),
        timestamps=times,
        duration_s=max(duration, float(times[-1])),
        width=probe.width,
        height=probe.height,
        codec=probe.codec,
        container=probe.container,
    )
