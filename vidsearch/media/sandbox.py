"""Decode untrusted files in a child process with bounded memory, CPU and wall time.

FFmpeg parses whatever a stranger uploads. A decoder bug (a crash, a huge allocation, an
endless loop) inside the server process would take every in-flight request down with
it; in a child it costs only that request. Each call runs in a child of its own, forked
from a ``forkserver`` (a clean single-threaded process, so forking never copies the gRPC
server's threads or locks); the child caps its address space (RLIMIT_AS) and CPU time
(RLIMIT_CPU) and is killed when the wall-clock budget runs out. Every failure becomes a
:class:`MediaError` subclass, which the service maps to INVALID_ARGUMENT.

Children are started ahead of need (a warm pool, :class:`WarmPool`): a request takes one
that already waits, so the fork is off its path, and a replacement starts in the
background. A child still decodes one file and exits, so one hostile file never meets
another request's data.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from vidsearch.media import errors
from vidsearch.media.audio import decode_audio
from vidsearch.media.decode import DecodedVideo, ResizeMode, Source, decode_video, source_name
from vidsearch.media.errors import SOURCE
from vidsearch.media.mfcc import SAMPLE_RATE

DEFAULT_MEMORY_LIMIT_BYTES = 2 * 1024**3
_INTERRUPT_POLL_S = 0.05
_GRACE_S = 5.0  # at most: start-up of the child and transfer of the frames, on top of the budget
_context_lock = threading.Lock()
_context: Any = None


def _mp_context() -> Any:
    """One forkserver per process, preloaded with the decoder (PyAV, numpy)."""
    global _context
    with _context_lock:
        if _context is None:
            method = (
                "forkserver"
                if "forkserver" in multiprocessing.get_all_start_methods()
                else ("spawn")
            )
            _context = multiprocessing.get_context(method)
            if method == "forkserver":
                _context.set_forkserver_preload(["vidsearch.media.sandbox"])
        return _context


def _limit(kind: int, value: int) -> None:
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, hard))


def _waiting_child(conn: Connection) -> None:
    """A warm child: waits for one job, runs it (``_child``), exits."""
    try:
        job = conn.recv()
        conn.send("started")  # the parent now knows the job did not meet a dead child
    except (EOFError, OSError):  # the pool closed: nothing to do
        return
    _child(conn, *job)


def _child(conn: Connection, target: Callable[..., Any], source: Source,
           kwargs: dict[str, Any], memory: int | None, cpu_s: int | None) -> None:  # fmt: skip
    """Runs in the sandbox: limits first, then decode; the answer goes back over ``conn``."""
    try:
        if memory is not None:
            _limit(resource.RLIMIT_AS, memory)
        if cpu_s is not None:
            _limit(resource.RLIMIT_CPU, cpu_s)
        result: tuple[str, Any] = ("ok", target(source, **kwargs))
    except errors.MediaError as exc:  # the message, not the child's name for the input
        result = ("media", (type(exc).__name__, exc.message))
    except MemoryError:
        result = ("memory", "")
    except BaseException as exc:
        result = ("other", type(exc).__name__)
    try:
        conn.send(result)
    except MemoryError:
        conn.send(("memory", ""))
    finally:
        conn.close()


def _raise_from_child(kind: str, payload: Any, name: str, memory: int | None) -> None:
    if kind == "media":
        cls_name, message = payload
        cls = getattr(errors, cls_name, errors.CorruptMediaError)
        if not (isinstance(cls, type) and issubclass(cls, errors.MediaError)):
            cls = errors.CorruptMediaError
        raise cls(message, name)
    if kind == "memory":
        limit = f"{memory // 2**20} MiB" if memory else "the memory available"
        raise errors.MediaLimitError(
            f"decoding {SOURCE} needed more than {limit}; send a smaller or lower-resolution "
            "video",
            name,
        )
    raise errors.CorruptMediaError(
        f"the decoder failed on {SOURCE} ({payload}); the file is damaged or not a video", name
    )


def sandboxed_decode_video(
    source: Source,
    *,
    fps: float = 1.0,
    size: int = 64,
    resize_mode: ResizeMode = "stretch",
    max_frames: int | None = None,
    max_pixels: int | None = None,
    max_duration_s: float | None = None,
    timeout_s: float | None = None,
    memory_limit_bytes: int | None = DEFAULT_MEMORY_LIMIT_BYTES,
    interrupt: Callable[[], None] | None = None,
    skip_nonreference: bool = False,
    skip_deblocking: bool = False,
    _target: Callable[..., DecodedVideo] = decode_video,
) -> DecodedVideo:
    """:func:`decode_video` in a child process; same arguments, same result and errors.

    ``timeout_s`` is also the wall-clock budget of the child (plus a few seconds for its
    start and the transfer of the frames), after which it is killed. ``interrupt`` runs in
    this process while the child works (every few tens of milliseconds); if it raises, the
    child is killed and the exception propagates."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    kwargs = {
        "fps": fps,
        "size": size,
        "resize_mode": resize_mode,
        "max_frames": max_frames,
        "max_pixels": max_pixels,
        "max_duration_s": max_duration_s,
        "timeout_s": timeout_s,
        "skip_nonreference": skip_nonreference,
        "skip_deblocking": skip_deblocking,
    }
    decoded: DecodedVideo = _run_in_child(_target, source, kwargs, timeout_s,
                                          memory_limit_bytes, interrupt)
    return decoded


def sandboxed_decode_audio(
    source: Source,
    *,
    sample_rate: int = SAMPLE_RATE,
    max_duration_s: float | None = 600.0,
    timeout_s: float | None = None,
    memory_limit_bytes: int | None = DEFAULT_MEMORY_LIMIT_BYTES,
    interrupt: Callable[[], None] | None = None,
) -> np.ndarray:
    """:func:`media.audio.decode_audio` in a child process, bounded like the frames."""
    kwargs = {"sample_rate": sample_rate, "max_duration_s": max_duration_s,
              "timeout_s": timeout_s}
    sound: np.ndarray = _run_in_child(decode_audio, source, kwargs, timeout_s,
                                      memory_limit_bytes, interrupt)
    return sound


class WarmPool:
    """Children started ahead of need, each waiting for one job.

    ``take`` hands out a live waiting child (a dead one, killed while it waited, is
    dropped) or, when none waits, starts one on the spot; either way a replacement starts
    in a background thread, so up to ``size`` children wait at any time.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._idle: list[tuple[Any, Connection]] = []
        self._lock = threading.Lock()
        self._starting = 0

    def resize(self, size: int) -> None:
        with self._lock:
            self._size = size
            extra, self._idle = self._idle[size:], self._idle[:size]
        for process, conn in extra:
            _discard(process, conn)
        self._refill()

    def waiting(self) -> list[int]:
        """Process ids of the children waiting now (for tests and metrics)."""
        with self._lock:
            return [p.pid for p, _ in self._idle if p.is_alive()]

    def take(self) -> tuple[Any, Connection]:
        """A started child and the parent end of its pipe."""
        child = None
        with self._lock:
            while self._idle and child is None:
                process, conn = self._idle.pop(0)
                if process.is_alive():
                    child = (process, conn)
                else:
                    _discard(process, conn)
        self._refill()
        return child if child is not None else _start_child()

    def _refill(self) -> None:
        with self._lock:
            wanted = self._size - len(self._idle) - self._starting
            self._starting += max(0, wanted)
        for _ in range(wanted):
            threading.Thread(target=self._add, daemon=True, name="decode-pool").start()

    def _add(self) -> None:
        try:
            child = _start_child()
        except Exception:  # retried by the next take
            child = None
        with self._lock:
            self._starting -= 1
            if child is not None and len(self._idle) < self._size:
                self._idle.append(child)
                child = None
        if child is not None:
            _discard(*child)


def _start_child() -> tuple[Any, Connection]:
    ctx = _mp_context()
    parent, child_end = ctx.Pipe(duplex=True)
    process = ctx.Process(target=_waiting_child, args=(child_end,), daemon=True)
    process.start()
    child_end.close()  # the child holds its own copy; EOF reaches us if it dies
    return process, parent


def _hand_over(job: tuple[Any, ...]) -> tuple[Any, Connection]:
    """Give ``job`` to a waiting child; one that died before it started (killed while
    waiting) is replaced by a fresh one, once."""
    for attempt in range(2):
        process, conn = POOL.take() if attempt == 0 else _start_child()
        try:
            conn.send(job)
            if conn.poll(_GRACE_S) and conn.recv() == "started":
                return process, conn
        except (OSError, EOFError):
            pass
        _discard(process, conn)
    raise RuntimeError("the decoder sandbox could not start a child process")  # server-side


def _discard(process: Any, conn: Connection) -> None:
    conn.close()  # a waiting child sees EOF and exits
    process.join(timeout=1.0)
    if process.is_alive():
        process.kill()
        process.join(timeout=1.0)


POOL = WarmPool(size=1)


def _run_in_child(target: Callable[..., Any], source: Source, kwargs: dict[str, Any],
                  timeout_s: float | None, memory_limit_bytes: int | None,
                  interrupt: Callable[[], None] | None) -> Any:
    """``target(source, **kwargs)`` in a child of its own under the limits; its result or
    error."""
    if not isinstance(source, str | Path | bytes | bytearray):
        source = source.read()
    name = source_name(source)
    grace = _GRACE_S if timeout_s is None else min(_GRACE_S, max(1.0, timeout_s))
    cpu_s = None if timeout_s is None else int(timeout_s + grace) + 1
    process, receiver = _hand_over((target, source, kwargs, memory_limit_bytes, cpu_s))
    try:
        wait = None if timeout_s is None else timeout_s + grace
        if not _poll(receiver, wait, interrupt):
            raise errors.DecodeTimeoutError(
                f"decoding {SOURCE} took over {timeout_s:.0f} s; send a shorter or smaller video",
                name,
            )
        try:
            kind, payload = receiver.recv()
        except EOFError:
            process.join(timeout=1.0)
            raise errors.CorruptMediaError(
                f"the decoder crashed on {SOURCE} (exit code {process.exitcode}); the file is "
                "damaged or not a video",
                name,
            ) from None
        if kind != "ok":
            _raise_from_child(kind, payload, name, memory_limit_bytes)
        return payload
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join(timeout=5.0)
        if hasattr(process, "close") and process.exitcode is not None:
            process.close()


def _poll(receiver: Connection, wait: float | None, interrupt: Callable[[], None] | None) -> bool:
    """Like ``receiver.poll(wait)``, calling ``interrupt`` between short waits."""
    if interrupt is None:
        return bool(receiver.poll(wait))
    give_up = None if wait is None else time.monotonic() + wait
    while True:
        interrupt()
        left = _INTERRUPT_POLL_S if give_up is None else give_up - time.monotonic()
        if left <= 0:
            return False
        if receiver.poll(min(left, _INTERRUPT_POLL_S)):
            return True


# -- hostile decoders for tests: prove that a hang, a crash and a huge allocation in the
# child cost only the request (they must live here so the forkserver child can import them).
def _spin_forever(source: Source, **_: Any) -> DecodedVideo:
    while True:
        pass


def _abort(source: Source, **_: Any) -> DecodedVideo:
    os.abort()


def _allocate(source: Source, **_: Any) -> DecodedVideo:
    hog = bytearray(64 * 1024**3)
    raise AssertionError(f"allocated {len(hog)} bytes despite the limit")
