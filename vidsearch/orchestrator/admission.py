"""Per-stage admission control: bounded concurrency plus a short, bounded wait queue.

Decode (CPU, a child process per file), encode (the inference backend) and the catalog
each have their own limit, so a slow dependency holds only its own stage's slots: new
work for that stage waits at most ``queue_wait_s`` in a queue of at most ``queue``
requests, and beyond that is refused at once with :class:`OverloadedError`
(RESOURCE_EXHAUSTED, which clients retry with backoff) instead of piling up threads.
Waiting also ends when the request's deadline passes or its caller cancels.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from vidsearch import metrics
from vidsearch.config import StageLimitConfig, StageLimitsConfig
from vidsearch.deadline import RequestBudget
from vidsearch.orchestrator.api import OverloadedError

_POLL_S = 0.05  # how often a queued request looks at its deadline and cancellation


class StageLimiter:
    """At most ``concurrency`` holders and ``queue`` waiters; thread-safe."""

    def __init__(self, stage: str, limit: StageLimitConfig) -> None:
        self.stage = metrics.check_label(stage)
        self.limit = limit
        self._cond = threading.Condition()
        self._in_flight = 0
        self._queued = 0
        self._in_flight_gauge = metrics.STAGE_IN_FLIGHT.labels(stage=stage)
        self._queued_gauge = metrics.STAGE_QUEUED.labels(stage=stage)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def queued(self) -> int:
        return self._queued

    def _reject(self, reason: str, message: str) -> OverloadedError:
        metrics.STAGE_REJECTED.labels(stage=self.stage, reason=reason).inc()
        return OverloadedError(message)

    def acquire(self, budget: RequestBudget | None = None) -> None:
        """Take a slot, waiting in the queue if allowed; raise instead of waiting long."""
        limit = self.limit
        with self._cond:
            if self._in_flight < limit.concurrency and self._queued == 0:
                self._take()
                return
            if self._queued >= limit.queue:
                raise self._reject(
                    "queue_full",
                    f"the {self.stage} stage is full ({self._in_flight} running, "
                    f"{self._queued} queued); retry with backoff",
                )
            self._queued += 1
            self._queued_gauge.inc()
            try:
                self._wait_for_slot(budget)
            except BaseException:
                self._cond.notify()  # pass on a wake-up this leaver may have consumed
                raise
            finally:
                self._queued -= 1
                self._queued_gauge.dec()
            self._take()

    def _wait_for_slot(self, budget: RequestBudget | None) -> None:
        """Called holding the lock; returns when a slot is free, else raises."""
        give_up = time.monotonic() + self.limit.queue_wait_s
        while self._in_flight >= self.limit.concurrency:
            if budget is not None:
                budget.check(f"a slot of the {self.stage} stage was free")
            left = give_up - time.monotonic()
            if left <= 0:
                raise self._reject(
                    "queue_timeout",
                    f"no slot of the {self.stage} stage came free within "
                    f"{self.limit.queue_wait_s:g} s ({self._in_flight} running); "
                    "retry with backoff",
                )
            self._cond.wait(min(left, _POLL_S) if budget is not None else left)

    def _take(self) -> None:
        self._in_flight += 1
        self._in_flight_gauge.inc()

    def release(self) -> None:
        with self._cond:
            if self._in_flight <= 0:
                raise RuntimeError(f"{self.stage} stage slot released more often than taken")
            self._in_flight -= 1
            self._in_flight_gauge.dec()
            self._cond.notify()

    @contextmanager
    def slot(self, budget: RequestBudget | None = None) -> Iterator[None]:
        """Hold a slot for the enclosed block; released however the block ends."""
        self.acquire(budget)
        try:
            yield
        finally:
            self.release()


class StageLimiters:
    """The limiters of one orchestrator, by stage: decode, encode, catalog."""

    def __init__(self, config: StageLimitsConfig) -> None:
        self.decode = StageLimiter("decode", config.decode)
        self.encode = StageLimiter("encode", config.encode)
        self.catalog = StageLimiter("catalog", config.catalog)

    def get(self, stage: str | None) -> StageLimiter | None:
        """The limiter for a resource name (None or unknown: the stage is not limited)."""
        return {"decode": self.decode, "encode": self.encode, "catalog": self.catalog}.get(
            stage or ""
        )
