"""The time budget and cancellation token of one request, shared by all its stages.

A gRPC caller's deadline and its cancellation must reach every piece of work done for
it (stage queues, decoding, inference, catalog calls): work for a caller that has gone
is load that makes everyone else's requests late. The service layer builds one
:class:`RequestBudget` per call (remaining deadline + a cancel hook on the call); the
orchestrator, the decoder and the catalogs only ask it "how long is left" and "should I
stop", so none of them knows about gRPC.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RequestStoppedError(RuntimeError):
    """The request must stop: its deadline passed or its caller cancelled it."""

    reason = "stopped"


class DeadlineExceededError(RequestStoppedError):
    """The request's deadline passed before the work was done (maps to DEADLINE_EXCEEDED)."""

    reason = "deadline"


class RequestCancelledError(RequestStoppedError):
    """The caller cancelled the request (maps to CANCELLED)."""

    reason = "cancelled"


class RequestBudget:
    """Deadline (monotonic) and cancellation flag of one request; thread-safe."""

    def __init__(
        self, timeout_s: float | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._started = clock()
        self._deadline = None if timeout_s is None else self._started + timeout_s
        self._cancelled = threading.Event()

    @classmethod
    def unlimited(cls) -> RequestBudget:
        """No deadline, never cancelled: for callers that are not requests (CLI, re-index)."""
        return cls(None)

    def cancel(self) -> None:
        """Mark the request cancelled; every later :meth:`check` raises."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def remaining(self) -> float | None:
        """Seconds left before the deadline (may be negative); None without a deadline."""
        return None if self._deadline is None else self._deadline - self._clock()

    @property
    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def should_stop(self) -> bool:
        """True once the work is useless: cancelled or out of time (cheap, for loops)."""
        return self.cancelled or self.expired

    def check(self, where: str) -> None:
        """Raise the matching :class:`RequestStoppedError` if the request must stop."""
        if self.expired:  # first: a call ending at its deadline is cancelled too
            elapsed = self._clock() - self._started
            raise DeadlineExceededError(
                f"the request's deadline passed before {where} ({elapsed:.2f} s after it "
                "started); retry with a longer deadline or a shorter video"
            )
        if self.cancelled:
            raise RequestCancelledError(f"the client cancelled the request before {where}")

    def timeout_for(self, where: str, default: float | None = None) -> float | None:
        """The timeout to give one downstream call: what is left, capped by ``default``.

        Checks first, so a call is never started with no time left."""
        self.check(where)
        left = self.remaining()
        if left is None:
            return default
        return left if default is None else min(left, default)

    def whole_seconds_for(self, where: str, default: float | None = None) -> int | None:
        """:meth:`timeout_for` rounded up to whole seconds, for clients that take only ints
        (qdrant-client); never below 1 s. The caller checks the budget again afterwards."""
        left = self.timeout_for(where, default)
        return None if left is None else max(1, math.ceil(left))
