"""Per-call helpers of the servicer: the upload header, the request id, the deadline."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import grpc

from vidsearch.deadline import RequestBudget
from vidsearch.service.errors import REQUEST_ID_KEY, ServiceError, invalid_argument

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def first_header(requests: Iterator[Any]) -> Any:
    first = next(requests, None)
    if first is None or first.WhichOneof("message") != "header":
        raise invalid_argument("the first message of the stream must carry the header")
    return first.header


def request_id_of(context: grpc.ServicerContext) -> str:
    """The caller's x-request-id when it is a safe token, else a fresh one."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _CLIENT_REQUEST_ID.match(value):
            return value
    return uuid.uuid4().hex[:16]


def check_time(context: grpc.ServicerContext) -> float | None:
    """Seconds left before the caller's deadline; fail now rather than work for nobody."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
    return remaining


def request_budget(context: grpc.ServicerContext) -> RequestBudget:
    """The call's remaining deadline, cancelled when the call ends early (client cancel,
    deadline, disconnect), so the orchestrator stops working for nobody."""
    budget = RequestBudget(check_time(context))
    # Runs on every termination; after a normal one the work is over and nothing checks.
    if not context.add_callback(budget.cancel):
        budget.cancel()  # the call had already ended
    return budget
