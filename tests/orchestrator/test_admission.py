"""StageLimiter with real threads: the concurrency limit holds, a full queue rejects at once,
a queued request gives up after its wait (or its deadline / cancellation), and slots come
back when the work raises."""

from __future__ import annotations

import threading
import time

import pytest

from vidsearch import metrics
from vidsearch.config import StageLimitConfig, StageLimitsConfig
from vidsearch.deadline import DeadlineExceededError, RequestBudget, RequestCancelledError
from vidsearch.orchestrator.admission import StageLimiter, StageLimiters
from vidsearch.orchestrator.api import OverloadedError


def _limiter(concurrency: int, queue: int, wait_s: float, stage: str = "decode") -> StageLimiter:
    return StageLimiter(
        stage, StageLimitConfig(concurrency=concurrency, queue=queue, queue_wait_s=wait_s)
    )


def _sample(name: str, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


class Holders:
    """Threads that each take a slot and keep it until released."""

    def __init__(self, limiter: StageLimiter, budget: RequestBudget | None = None) -> None:
        self.limiter, self.budget = limiter, budget
        self.release = threading.Event()
        self.outcomes: list[str] = []
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _hold(self) -> None:
        try:
            with self.limiter.slot(self.budget):
                self._record("ran")
                self.release.wait(10)
        except OverloadedError:
            self._record("rejected")
        except (DeadlineExceededError, RequestCancelledError) as exc:
            self._record(exc.reason)

    def _record(self, outcome: str) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def start(self, n: int) -> None:
        for _ in range(n):
            thread = threading.Thread(target=self._hold, daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self) -> None:
        self.release.set()
        for thread in self.threads:
            thread.join(10)
            assert not thread.is_alive()


def _wait_until(condition: object, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.005)
    raise AssertionError("condition not met in time")


def test_concurrency_limit_is_respected_under_load() -> None:
    limiter = _limiter(concurrency=3, queue=50, wait_s=10.0, stage="encode")
    peak, current, lock = 0, 0, threading.Lock()

    def work() -> None:
        nonlocal peak, current
        with limiter.slot():
            with lock:
                current += 1
                peak = max(peak, current)
            time.sleep(0.01)
            with lock:
                current -= 1

    threads = [threading.Thread(target=work) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert peak == 3  # reached, never exceeded
    assert (limiter.in_flight, limiter.queued) == (0, 0)


def test_full_queue_rejects_immediately_and_is_counted() -> None:
    limiter = _limiter(concurrency=1, queue=1, wait_s=30.0)
    before = _sample("vidsearch_stage_rejected_total", stage="decode", reason="queue_full")
    holders = Holders(limiter)
    holders.start(1)
    _wait_until(lambda: limiter.in_flight == 1)
    holders.start(1)  # waits in the queue (30 s allowed)
    _wait_until(lambda: limiter.queued == 1)
    assert _sample("vidsearch_stage_queued", stage="decode") >= 1
    started = time.monotonic()
    with pytest.raises(OverloadedError, match="decode stage is full"):
        limiter.acquire()
    assert time.monotonic() - started < 0.5, "a full queue must answer at once, not wait"
    after = _sample("vidsearch_stage_rejected_total", stage="decode", reason="queue_full")
    assert after == before + 1
    holders.join()
    assert holders.outcomes == ["ran", "ran"]  # the queued one got its turn


def test_queued_request_gives_up_after_the_queue_wait() -> None:
    limiter = _limiter(concurrency=1, queue=4, wait_s=0.2, stage="catalog")
    holders = Holders(limiter)
    holders.start(1)
    _wait_until(lambda: limiter.in_flight == 1)
    started = time.monotonic()
    with pytest.raises(OverloadedError, match=r"within 0\.2 s"):
        limiter.acquire()
    waited = time.monotonic() - started
    assert 0.15 <= waited < 2.0
    assert limiter.queued == 0
    holders.join()


def test_queued_request_stops_at_its_deadline_or_cancellation() -> None:
    limiter = _limiter(concurrency=1, queue=4, wait_s=30.0)
    holders = Holders(limiter)
    holders.start(1)
    _wait_until(lambda: limiter.in_flight == 1)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        limiter.acquire(RequestBudget(0.2))
    assert time.monotonic() - started < 2.0  # the deadline, not the 30 s queue wait
    cancelled = RequestBudget(None)
    waiter = Holders(limiter, cancelled)
    waiter.start(1)
    _wait_until(lambda: limiter.queued == 1)
    cancelled.cancel()
    _wait_until(lambda: waiter.outcomes == ["cancelled"])
    assert limiter.queued == 0 and limiter.in_flight == 1
    holders.join()
    waiter.join()


def test_slot_is_released_when_the_work_raises() -> None:
    limiter = _limiter(concurrency=1, queue=0, wait_s=1.0)
    for _ in range(3):
        with pytest.raises(ValueError), limiter.slot():
            raise ValueError("stage failed")
    assert limiter.in_flight == 0
    with limiter.slot():  # the only slot is free again
        assert limiter.in_flight == 1
        with pytest.raises(OverloadedError):  # queue 0: no waiting at all
            limiter.acquire()
    assert _sample("vidsearch_stage_in_flight", stage="decode") == 0


def test_stage_limiters_from_config() -> None:
    limits = StageLimiters(StageLimitsConfig())
    assert limits.get("decode") is limits.decode
    assert limits.get("catalog") is limits.catalog
    assert limits.get(None) is None and limits.get("segment_match") is None
