"""RequestBudget: remaining time, per-call timeouts, stop checks (a settable clock stands in
for time so the arithmetic is exact)."""

from __future__ import annotations

import pytest

from vidsearch.deadline import (
    DeadlineExceededError,
    RequestBudget,
    RequestCancelledError,
    RequestStoppedError,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_remaining_and_call_timeouts() -> None:
    clock = Clock()
    budget = RequestBudget(5.0, clock=clock)
    assert budget.remaining() == 5.0
    assert budget.timeout_for("x", default=30.0) == 5.0  # the deadline caps the default
    assert budget.timeout_for("x", default=2.0) == 2.0  # and the default caps the deadline
    clock.now += 4.2
    assert budget.whole_seconds_for("x") == 1  # 0.8 s rounds up, never to 0
    budget.check("encode")  # still in time
    clock.now += 1.0
    assert budget.expired and budget.should_stop()
    with pytest.raises(DeadlineExceededError, match="deadline passed before encode"):
        budget.check("encode")
    with pytest.raises(DeadlineExceededError):
        budget.timeout_for("a catalog call")


def test_no_deadline_means_the_default() -> None:
    budget = RequestBudget.unlimited()
    assert budget.remaining() is None
    assert budget.timeout_for("x", default=7.0) == 7.0
    assert budget.whole_seconds_for("x") is None
    assert not budget.should_stop()


def test_cancellation_stops_the_next_check() -> None:
    budget = RequestBudget(60.0)
    budget.check("decode")
    budget.cancel()
    assert budget.cancelled and budget.should_stop()
    with pytest.raises(RequestCancelledError, match="cancelled the request before decode") as err:
        budget.check("decode")
    assert isinstance(err.value, RequestStoppedError) and err.value.reason == "cancelled"


def test_expiry_wins_over_the_cancel_that_a_deadline_causes() -> None:
    clock = Clock()
    budget = RequestBudget(1.0, clock=clock)
    clock.now += 2.0
    budget.cancel()  # gRPC cancels a call whose deadline passed
    with pytest.raises(DeadlineExceededError):
        budget.check("search")
