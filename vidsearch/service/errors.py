"""Domain exceptions → gRPC statuses: the one table every RPC goes through.

| exception                                   | status              | ErrorInfo reason        |
|---------------------------------------------|---------------------|-------------------------|
| ServiceError (servicer's own validation)    | its code            | its own / the code      |
| MediaError                                  | INVALID_ARGUMENT    | INVALID_MEDIA           |
| InvalidRequestError                         | INVALID_ARGUMENT    | INVALID_ARGUMENT        |
| VideoNotFoundError                          | NOT_FOUND           | VIDEO_NOT_FOUND         |
| ModelNotFoundError                          | NOT_FOUND           | MODEL_NOT_FOUND         |
| InferenceTimeoutError                       | DEADLINE_EXCEEDED   | INFERENCE_TIMEOUT       |
| DeadlineExceededError (request budget)      | DEADLINE_EXCEEDED   | DEADLINE_EXCEEDED       |
| RequestCancelledError (request budget)      | CANCELLED           | CANCELLED               |
| BackendUnavailableError                     | UNAVAILABLE         | INFERENCE_UNAVAILABLE   |
| CatalogUnavailableError                     | UNAVAILABLE         | CATALOG_UNAVAILABLE     |
| IncompatibleModelError                      | FAILED_PRECONDITION | INCOMPATIBLE_MODEL      |
| TextSearchUnavailableError                  | FAILED_PRECONDITION | TEXT_SEARCH_UNAVAILABLE |
| TagsUnavailableError                        | FAILED_PRECONDITION | TAGS_UNAVAILABLE        |
| CaptionsUnavailableError                    | FAILED_PRECONDITION | CAPTIONS_UNAVAILABLE    |
| OverloadedError                             | RESOURCE_EXHAUSTED  | OVERLOADED              |
| DuplicateContentError                       | ALREADY_EXISTS      | DUPLICATE_CONTENT       |
| anything else                               | INTERNAL            | INTERNAL                |

Calls the token check (``service.auth``) rejects before any servicer runs carry the same
details: UNAUTHENTICATED with reason TOKEN_MISSING, TOKEN_INVALID or TOKEN_EXPIRED, and
PERMISSION_DENIED with SCOPE_MISSING.

Every status carries ``google.rpc.Status`` details (AIP-193): an ``ErrorInfo`` with the
reason above, domain ``vidsearch`` and the request id; a ``BadRequest`` naming the
field when one field of the request is at fault (``field=`` of ServiceError and
InvalidRequestError); a ``RetryInfo`` on RESOURCE_EXHAUSTED and UNAVAILABLE with the
delay to wait (``RETRY_DELAY_S``, or the exception's ``retry_after_s``).

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
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

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
    CaptionsUnavailableError,
    DuplicateContentError,
    InvalidRequestError,
    OverloadedError,
    TextSearchUnavailableError,
)
from vidsearch.orchestrator.tags import TagsUnavailableError

log = logging.getLogger(__name__)


REQUEST_ID_KEY = "x-request-id"
DOMAIN = "vidsearch"
# How long a client should wait before retrying, when the exception does not say.
RETRY_DELAY_S = {grpc.StatusCode.RESOURCE_EXHAUSTED: 1.0, grpc.StatusCode.UNAVAILABLE: 1.0}
Code = grpc.StatusCode


class ServiceError(Exception):
    """A request the service layer rejects itself, with the status code to send and,
    where one field is at fault, its name (sent as a BadRequest field violation)."""

    def __init__(
        self, code: grpc.StatusCode, message: str, *, field: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.reason = reason or code.name


def invalid_argument(message: str, field: str | None = None) -> ServiceError:
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, message, field=field)


@dataclass(frozen=True)
class Failure:
    """What a failed call answers: status code, message and the details' contents."""

    code: grpc.StatusCode
    message: str
    reason: str
    field: str | None = None
    retry_after_s: float | None = None


# Order matters: subclasses before their bases.
_TABLE: tuple[tuple[type[BaseException], grpc.StatusCode, str], ...] = (
    (InvalidRequestError, Code.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    (VideoNotFoundError, Code.NOT_FOUND, "VIDEO_NOT_FOUND"),
    (ModelNotFoundError, Code.NOT_FOUND, "MODEL_NOT_FOUND"),
    (InferenceTimeoutError, Code.DEADLINE_EXCEEDED, "INFERENCE_TIMEOUT"),
    (DeadlineExceededError, Code.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
    (RequestCancelledError, Code.CANCELLED, "CANCELLED"),
    (BackendUnavailableError, Code.UNAVAILABLE, "INFERENCE_UNAVAILABLE"),
    (CatalogUnavailableError, Code.UNAVAILABLE, "CATALOG_UNAVAILABLE"),
    (IncompatibleModelError, Code.FAILED_PRECONDITION, "INCOMPATIBLE_MODEL"),
    (TextSearchUnavailableError, Code.FAILED_PRECONDITION, "TEXT_SEARCH_UNAVAILABLE"),
    (TagsUnavailableError, Code.FAILED_PRECONDITION, "TAGS_UNAVAILABLE"),
    (CaptionsUnavailableError, Code.FAILED_PRECONDITION, "CAPTIONS_UNAVAILABLE"),
    (OverloadedError, Code.RESOURCE_EXHAUSTED, "OVERLOADED"),
    (DuplicateContentError, Code.ALREADY_EXISTS, "DUPLICATE_CONTENT"),
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


def to_failure(exc: BaseException, request_id: str, method: str) -> Failure:
    """What to answer for an exception raised serving ``method``."""
    if isinstance(exc, ServiceError):
        return Failure(exc.code, exc.message, exc.reason, exc.field)
    if isinstance(exc, MediaError):  # outside media_named: still no server path
        return Failure(Code.INVALID_ARGUMENT, exc.naming("the video"), "INVALID_MEDIA")
    for kind, code, reason in _TABLE:
        if isinstance(exc, kind):
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                log.warning(
                    "%s failed: %s",
                    method,
                    _message(exc),
                    extra={"request_id": request_id, "method": method, "code": code.name},
                )
            return Failure(code, _message(exc), reason, getattr(exc, "field", None),
                           getattr(exc, "retry_after_s", None))
    log.error(
        "%s failed unexpectedly",
        method,
        exc_info=exc,
        extra={"request_id": request_id, "method": method},
    )
    return Failure(Code.INTERNAL, f"internal error (request id {request_id})", "INTERNAL")


def _packed(detail: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)  # type: ignore[arg-type]
    return packed


def to_status(failure: Failure, request_id: str) -> grpc.Status:
    """The gRPC status with ``google.rpc.Status`` details, and the request id beside them
    in the trailing metadata (aborting with a status replaces the metadata set before)."""
    details = [error_details_pb2.ErrorInfo(
        reason=failure.reason, domain=DOMAIN, metadata={"request_id": request_id})]
    if failure.field is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=failure.field, description=failure.message)
        details.append(error_details_pb2.BadRequest(field_violations=[violation]))
    delay = failure.retry_after_s or RETRY_DELAY_S.get(failure.code)
    if delay is not None:
        retry_delay = duration_pb2.Duration()
        retry_delay.FromNanoseconds(int(delay * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=retry_delay))
    code: int = failure.code.value[0]
    assert code_pb2.Code.Name(code) == failure.code.name  # the two numberings agree
    status = rpc_status.to_status(status_pb2.Status(
        code=code, message=failure.message, details=[_packed(d) for d in details]))
    return _Status(status.code, status.details,
                   ((REQUEST_ID_KEY, request_id), *status.trailing_metadata))


class _Status(grpc.Status):
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata
