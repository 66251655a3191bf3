"""Deadlines and retries of every call (the async client runs the same code in a thread).

UNAVAILABLE is retried: it means the request was not served (server restarting,
backend briefly down), so sending it again is safe; IndexVideo is an upsert by id.
RESOURCE_EXHAUSTED is retried when the server says when to (a ``RetryInfo`` detail: it
shed the request under load); without one it is a limit that retrying will not lift.
A ``RetryInfo`` delay is honoured as the least wait before the next attempt. Every
other code is the answer. The timeout is one overall deadline across attempts. Within an
async call, cancelling its task ends a backoff and stops the retries (see ``_cancel``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from vidsearch_client._cancel import check, pause
from vidsearch_client.errors import DeadlineExceeded, error_details, from_rpc_error

T = TypeVar("T")
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})
RETRYABLE_WHEN_TOLD = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED})  # with RetryInfo only


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; ``max_attempts=1`` disables retries."""

    max_attempts: int = 4
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.5  # fraction of each backoff drawn at random (1.0 = full jitter)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.multiplier < 1:
            raise ValueError("backoffs must be >= 0 and multiplier >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be within [0, 1]")

    def backoff(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed attempt (1-based)."""
        base = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (failures - 1))
        spread = base * self.jitter
        return base - spread + (rng or random).uniform(0.0, spread)


def _deadline_error(method: str, timeout: float) -> DeadlineExceeded:
    return DeadlineExceeded(f"{method}: no time left of the {timeout:g}s deadline")


def _next_delay(
    policy: RetryPolicy, failures: int, deadline: float, error: grpc.RpcError
) -> float | None:
    """The backoff before the next attempt (at least the server's RetryInfo delay), or
    None when the error is final."""
    code = error.code()
    if failures >= policy.max_attempts or code not in RETRYABLE | RETRYABLE_WHEN_TOLD:
        return None
    told = error_details(error).retry_delay_s
    if code in RETRYABLE_WHEN_TOLD and told is None:
        return None
    delay = max(policy.backoff(failures), told or 0.0)
    if time.monotonic() + delay >= deadline:
        return None
    return delay


def call_with_retry(
    method: str, invoke: Callable[[float], T], *, timeout: float, policy: RetryPolicy
) -> T:
    """Run ``invoke(remaining_seconds)`` until it succeeds or fails for good."""
    deadline = time.monotonic() + timeout
    failures = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _deadline_error(method, timeout)
        check()
        try:
            return invoke(remaining)
        except grpc.RpcError as error:
            failures += 1
            delay = _next_delay(policy, failures, deadline, error)
            if delay is None:
                raise from_rpc_error(error) from error
        pause(delay)
