"""Domain exceptions → gRPC status codes: the one table every RPC goes through.

| exception                                   | status              | message  |
|---------------------------------------------|---------------------|----------|
| ServiceError (servicer's own validation)    | its code            | its own  |
| MediaError                                  | INVALID_ARGUMENT    | renamed  |
| InvalidRequestError                         | INVALID_ARGUMENT    | passed   |
| VideoNotFoundError                          | NOT_FOUND           | passed   |
| ModelNotFoundError                          | NOT_FOUND           | passed   |
| InferenceTimeoutError                       | DEADLINE_EXCEEDED   | passed   |
| DeadlineExceededError (request budget)      | DEADLINE_EXCEEDED   | passed   |
| RequestCancelledError (request budget)      | CANCELLED           | passed   |
| BackendUnavailableError                     | UNAVAILABLE         | passed   |
| CatalogUnavailableError                     | UNAVAILABLE         | passed   |
| IncompatibleModelError                      | FAILED_PRECONDITION | passed   |
| TextSearchUnavailableError                  | FAILED_PRECONDITION | passed   |
| TagsUnavailableError                        | FAILED_PRECONDITION | passed   |
| OverloadedError                             | RESOURCE_EXHAUSTED  | passed   |
| DuplicateContentError                       | ALREADY_EXISTS      | passed   |
| anything else                               | INTERNAL            | generic  |

InferenceTimeoutError is a BackendUnavailableError but maps to DEADLINE_EXCEEDED, not
UNAVAILABLE: clients retry UNAVAILABLE automatically, and re-sending a request whose
inference already ran out of time would multiply the load that caused the timeout.
Unexpected errors never leak their text to clients; they are logged with the request id,
which the client also receives. A media error names the request's video as the client
knows it (see :func:`media_named`), never by the server's path for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from vidsearch.catalog.base import (
    CatalogUnavailableError,
    IncompatibleModelError,
    VideoNotFoundError,
)
from vidsearch.deadline import DeadlineExceededError, RequestCancelledError
from vidsearch.inference.base import (
    BackendUnavailableError,
    InferenceTimeoutError,
    ModelNotFoundError,
)
from vidsearch.media.errors import MediaError
from vidsearch.orchestrator.api import (
    DuplicateContentError,
    InvalidRequestError,
    OverloadedError,
    TextSearchUnavailableError,
)
from vidsearch.orchestrator.tags import TagsUnavailableError

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A request the service layer rejects itself, with the status code to send."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid_argument(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, message)


# Order matters: subclasses before their bases.
_TABLE: tuple[tuple[tuple[type[BaseException], ...], grpc.StatusCode], ...] = (
    ((InvalidRequestError,), grpc.StatusCode.INVALID_ARGUMENT),
    ((VideoNotFoundError, ModelNotFoundError), grpc.StatusCode.NOT_FOUND),
    ((InferenceTimeoutError, DeadlineExceededError), grpc.StatusCode.DEADLINE_EXCEEDED),
    ((RequestCancelledError,), grpc.StatusCode.CANCELLED),
    ((BackendUnavailableError, CatalogUnavailableError), grpc.StatusCode.UNAVAILABLE),
    ((IncompatibleModelError, TextSearchUnavailableError, TagsUnavailableError),
     grpc.StatusCode.FAILED_PRECONDITION),
    ((OverloadedError,), grpc.StatusCode.RESOURCE_EXHAUSTED),
    ((DuplicateContentError,), grpc.StatusCode.ALREADY_EXISTS),
)


@contextmanager
def media_named(name: str) -> Iterator[None]:
    """Media errors raised inside call the request's video ``name`` (the client's source_uri
    or "the uploaded file"), never by the temporary file the server decoded."""
    try:
        yield
    except MediaError as exc:
        raise invalid_argument(exc.naming(name)) from exc


def _message(exc: BaseException) -> str:
    # KeyError subclasses (VideoNotFoundError) would str() with quotes.
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc) or type(exc).__name__


def to_status(exc: BaseException, request_id: str, method: str) -> tuple[grpc.StatusCode, str]:
    """The status code and client-facing message for an exception raised serving ``method``."""
    if isinstance(exc, ServiceError):
        return exc.code, exc.message
    if isinstance(exc, MediaError):  # outside media_named: still no server path
        return grpc.StatusCode.INVALID_ARGUMENT, exc.naming("the video")
    for types, code in _TABLE:
        if isinstance(exc, types):
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                log.warning(
                    "%s failed: %s",
                    method,
                    _message(exc),
                    extra={"request_id": request_id, "method": method, "code": code.name},
                )
            return code, _message(exc)
    log.error(
        "%s failed unexpectedly",
        method,
        exc_info=exc,
        extra={"request_id": request_id, "method": method},
    )
    return grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})"
