"""Decode a video's sound track to 16 kHz mono float32: the input of the MFCC (seed 004).

Many videos have no sound: that is normal input, not an error, and gives an empty
signal (the audio modality is then missing and masked). Errors and limits follow
``media.decode``: typed :class:`MediaError` messages that name the input as ``{source}``,
a duration bound, a wall-clock budget and an ``interrupt`` hook; ``media.sandbox`` runs
it in a child process like the frame decoder.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import av
import numpy as np

from vidsearch.media.decode import (
    Source,
    check_declared_duration,
    guarded_packets,
    open_container,
    source_name,
)
from vidsearch.media.errors import SOURCE, CorruptMediaError, MediaLimitError
from vidsearch.media.mfcc import SAMPLE_RATE


def decode_audio(
    source: Source,
    *,
    sample_rate: int = SAMPLE_RATE,
    max_duration_s: float | None = 600.0,
    timeout_s: float | None = None,
    interrupt: Callable[[], None] | None = None,
) -> np.ndarray:
    """The first audio stream as mono float32 [samples] at ``sample_rate``, or an empty
    array when the file has no audio stream.

    Longer sound than ``max_duration_s`` is a :class:`MediaLimitError` (the declared
    duration is checked before decoding, the decoded length while decoding). A damaged
    tail keeps what decoded before it, like the frame decoder."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    name = source_name(source)
    started = time.monotonic()
    container = open_container(source)
    try:
        if not container.streams.audio:
            return np.zeros(0, dtype=np.float32)
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # a codec id FFmpeg has no decoder for
            raise CorruptMediaError(
                f"{SOURCE} uses an audio codec this server cannot decode; re-encode it as AAC",
                name,
            )
        check_declared_duration(container, stream, max_duration_s, name)
        limit = None if max_duration_s is None else int(max_duration_s * sample_rate) + 1
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        kept = 0

        def keep(frames: list[av.AudioFrame]) -> None:
            nonlocal kept
            for out in frames:
                chunk = out.to_ndarray().reshape(-1)  # flt, mono: [1, n] -> [n]
                kept += len(chunk)
                if limit is not None and kept > limit:
                    raise MediaLimitError(
                        f"{SOURCE} has sound past {max_duration_s:.0f} s; cut it into "
                        "shorter parts",
                        name,
                    )
                chunks.append(chunk)

        try:
            for packet in guarded_packets(container, stream, name=name, started=started,
                                          timeout_s=timeout_s, interrupt=interrupt,
                                          what=f"the sound of {SOURCE}",
                                          advice="send a shorter video"):
                for frame in packet.decode():
                    if isinstance(frame, av.AudioFrame):  # an audio stream's packets
                        keep(resampler.resample(frame))
            keep(resampler.resample(None))  # what the resampler still holds
        except av.error.FFmpegError as exc:
            if not chunks:
                raise CorruptMediaError(
                    f"the sound of {SOURCE} could not be decoded ({exc.__class__.__name__}); "
                    "the file is damaged",
                    name,
                ) from exc
            # A truncated tail: keep what decoded before the damage.
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)
    finally:
        container.close()

