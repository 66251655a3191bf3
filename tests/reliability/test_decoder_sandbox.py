"""The sandboxed decoder: same frames as in-process decoding, same typed errors, and a
hang, a crash or a huge allocation in the child costs only that request."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vidsearch.media import sandbox
from vidsearch.media.decode import decode_video
from vidsearch.media.errors import (
    CorruptMediaError,
    DecodeTimeoutError,
    EmptyMediaError,
    MediaError,
    MediaLimitError,
)
from vidsearch.media.sandbox import sandboxed_decode_video
from vidsearch.media.synthetic import render_video, write_video


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(
        tmp_path_factory.mktemp("sb") / "v.mp4", render_video(3, 4.0, 8.0, 64, 48), 8.0
    )


def test_same_result_as_in_process(mp4: Path) -> None:
    inside = decode_video(mp4, fps=2.0, size=32)
    boxed = sandboxed_decode_video(mp4, fps=2.0, size=32, timeout_s=30)
    np.testing.assert_array_equal(boxed.frames, inside.frames)
    np.testing.assert_array_equal(boxed.timestamps, inside.timestamps)
    assert (boxed.duration_s, boxed.width, boxed.codec) == (
        inside.duration_s,
        inside.width,
        inside.codec,
    )
    from_bytes = sandboxed_decode_video(mp4.read_bytes(), fps=2.0, size=32)
    np.testing.assert_array_equal(from_bytes.frames, inside.frames)


def test_media_errors_keep_their_type_and_message(mp4: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    with pytest.raises(CorruptMediaError, match="not a video file") as caught:
        sandboxed_decode_video(junk)
    assert str(caught.value).startswith(f"{junk} is not a video file")  # local: the path
    renamed = caught.value.naming("the uploaded file")  # what a server tells its client
    assert renamed.startswith("the uploaded file is not") and str(tmp_path) not in renamed
    with pytest.raises(EmptyMediaError):
        sandboxed_decode_video(b"")
    with pytest.raises(MediaLimitError, match="pixels per frame"):
        sandboxed_decode_video(mp4, max_pixels=100)


def test_a_hanging_decoder_is_killed_at_the_budget(mp4: Path) -> None:
    start = time.monotonic()
    with pytest.raises(DecodeTimeoutError, match="took over"):
        sandboxed_decode_video(mp4, timeout_s=0.5, _target=sandbox._spin_forever)
    assert time.monotonic() - start < 10


def test_a_crashing_decoder_is_contained(mp4: Path) -> None:
    with pytest.raises(CorruptMediaError, match="crashed"):
        sandboxed_decode_video(mp4, timeout_s=30, _target=sandbox._abort)
    assert sandboxed_decode_video(mp4, timeout_s=30).frames.shape[0] == 4  # still works


def test_memory_is_bounded(mp4: Path) -> None:
    with pytest.raises(MediaLimitError, match="needed more than 2048 MiB"):
        sandboxed_decode_video(mp4, timeout_s=30, _target=sandbox._allocate)


def test_concurrent_decodes_do_not_interfere(mp4: Path) -> None:
    results: list[int | BaseException] = []

    def one(target: object) -> None:
        try:
            if target is None:
                results.append(len(sandboxed_decode_video(mp4, timeout_s=30).frames))
            else:
                sandboxed_decode_video(mp4, timeout_s=30, _target=sandbox._abort)
        except MediaError as exc:
            results.append(exc)

    threads = [threading.Thread(target=one, args=(t,)) for t in (None, sandbox._abort, None)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r for r in results if isinstance(r, int)) == [4, 4]
    assert sum(isinstance(r, CorruptMediaError) for r in results) == 1


class _Stopped(Exception):
    pass


def test_an_interrupt_kills_the_child_early(mp4: Path) -> None:
    """A cancelled request stops its decode: ``interrupt`` raising in the parent kills the
    child at once (here a child that would spin for the whole 60 s budget)."""
    calls = 0

    def interrupt() -> None:  # the request is cancelled while the child spins
        nonlocal calls
        calls += 1
        if calls > 5:
            raise _Stopped("request cancelled")

    start = time.monotonic()
    with pytest.raises(_Stopped):
        sandboxed_decode_video(
            mp4, timeout_s=60, interrupt=interrupt, _target=sandbox._spin_forever
        )
    assert time.monotonic() - start < 5, "the interrupt must not wait for the decode budget"
    assert calls == 6
    # Same decoder, interrupt that never fires: the result is unchanged.
    assert sandboxed_decode_video(mp4, timeout_s=30, interrupt=lambda: None).frames.shape[0] == 4


def test_an_interrupt_stops_in_process_decoding_between_packets(mp4: Path) -> None:
    packets = 0

    def interrupt() -> None:
        nonlocal packets
        packets += 1
        if packets > 3:
            raise _Stopped("deadline")

    with pytest.raises(_Stopped):
        decode_video(mp4, fps=8.0, size=32, interrupt=interrupt)
    assert packets == 4  # stopped at the fourth packet, not after the whole file


def test_warm_pool_recovers_after_a_waiting_child_is_killed(mp4: Path) -> None:
    """A child killed while it waits is never handed a request: the next decode gets a
    live one, and the pool is back to its size soon after."""
    import os
    import signal

    sandbox.POOL.resize(1)
    sandboxed_decode_video(mp4, fps=1.0, size=16, timeout_s=30)  # fills the pool
    waiting = _wait_for_children(1)
    os.kill(waiting[0], signal.SIGKILL)
    for _ in range(2):  # the killed child is skipped; its replacement serves the second
        video = sandboxed_decode_video(mp4, fps=1.0, size=16, timeout_s=30)
        assert len(video.frames) == 4
    refilled = _wait_for_children(1)
    assert waiting[0] not in refilled


def test_each_decode_runs_in_a_child_of_its_own(mp4: Path) -> None:
    """Warm children decode one file each: the pids that served two decodes differ."""
    sandbox.POOL.resize(1)
    sandboxed_decode_video(mp4, fps=1.0, size=16, timeout_s=30)
    first = _wait_for_children(1)[0]
    sandboxed_decode_video(mp4, fps=1.0, size=16, timeout_s=30)
    second = _wait_for_children(1)[0]
    assert first != second


def _wait_for_children(n: int, timeout_s: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while len(waiting := sandbox.POOL.waiting()) < n:
        assert time.monotonic() < deadline, f"pool holds {len(waiting)} children, not {n}"
        time.sleep(0.05)
    return waiting
