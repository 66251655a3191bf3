"""Typed exceptions for gRPC status codes, so callers catch ``NotFound`` instead of
inspecting ``grpc.RpcError.code()``. Each carries the server's message and request id,
and what the server's ``google.rpc.Status`` details say: the ErrorInfo ``reason``, the
BadRequest ``field_violations`` and the RetryInfo ``retry_delay_s``."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

REQUEST_ID_KEY = "x-request-id"


@dataclass(frozen=True)
class FieldViolation:
    """One request field the server rejected (``field`` as in the proto, e.g. "top_k")."""

    field: str
    description: str


@dataclass(frozen=True)
class ErrorDetails:
    """The ``google.rpc`` details of a failed call (empty when the server sent none)."""

    reason: str = ""  # ErrorInfo.reason, e.g. "VIDEO_NOT_FOUND", "OVERLOADED"
    domain: str = ""  # ErrorInfo.domain ("vidsearch")
    metadata: dict[str, str] = field(default_factory=dict)  # ErrorInfo.metadata
    field_violations: tuple[FieldViolation, ...] = ()  # BadRequest
    retry_delay_s: float | None = None  # RetryInfo: wait this long before retrying


class VidsearchError(Exception):
    """Base class of every error the SDK raises for a failed call."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        code: grpc.StatusCode | None = None,
        details: ErrorDetails | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        if code is not None:  # e.g. ABORTED surfaced as Unavailable keeps its real code
            self.code = code
        self.details = details or ErrorDetails()

    @property
    def reason(self) -> str:
        return self.details.reason

    @property
    def field_violations(self) -> tuple[FieldViolation, ...]:
        return self.details.field_violations

    @property
    def retry_delay_s(self) -> float | None:
        return self.details.retry_delay_s

    def __str__(self) -> str:
        suffix = f" (request id {self.request_id})" if self.request_id else ""
        return f"{self.code.name}: {self.message}{suffix}"


class InvalidArgument(VidsearchError):
    """The request (a field, the upload, or the media itself) was rejected."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(VidsearchError):
    """The video (or model version) does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(VidsearchError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(VidsearchError):
    """The server is not in a state to serve this (e.g. catalog/model version mismatch)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(VidsearchError):
    """The server or a backend is unreachable; the SDK already retried with backoff."""

    code = grpc.StatusCode.UNAVAILABLE


class ResourceExhausted(VidsearchError):
    """The server is overloaded or a size limit was hit; retry later or send less."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class PermissionDenied(VidsearchError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(VidsearchError):
    code = grpc.StatusCode.UNAUTHENTICATED


class DeadlineExceeded(VidsearchError):
    """The call (or the server-side inference) ran out of time."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(VidsearchError):
    code = grpc.StatusCode.CANCELLED


class Unimplemented(VidsearchError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(VidsearchError):
    """The server failed unexpectedly; quote the request id to its operators."""

    code = grpc.StatusCode.INTERNAL


class Unknown(VidsearchError):
    code = grpc.StatusCode.UNKNOWN


_BY_CODE: dict[grpc.StatusCode, type[VidsearchError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        Unavailable,
        ResourceExhausted,
        PermissionDenied,
        Unauthenticated,
        DeadlineExceeded,
        Cancelled,
        Unimplemented,
        Internal,
        Unknown,
    )
}
# Codes without a dedicated class still map to something a caller can catch.
_BY_CODE[grpc.StatusCode.OUT_OF_RANGE] = InvalidArgument
_BY_CODE[grpc.StatusCode.ABORTED] = Unavailable
_BY_CODE[grpc.StatusCode.DATA_LOSS] = Internal


def _request_id(error: grpc.RpcError) -> str | None:
    trailing = getattr(error, "trailing_metadata", None)
    try:
        pairs = trailing() if callable(trailing) else None
    except Exception:  # metadata is a courtesy; never mask the real error
        return None
    for key, value in pairs or ():
        if key == REQUEST_ID_KEY:
            return value if isinstance(value, str) else value.decode()
    return None


def _rich_status(error: grpc.RpcError) -> status_pb2.Status | None:
    try:
        return rpc_status.from_call(error)
    except Exception:  # absent, or not matching the status: a courtesy, never the error
        return None


def error_details(error: grpc.RpcError) -> ErrorDetails:
    """What the call's ``google.rpc.Status`` details say (ErrorInfo, BadRequest, RetryInfo)."""
    status = _rich_status(error)
    if status is None:
        return ErrorDetails()
    found: dict[str, object] = {}
    violations: list[FieldViolation] = []
    for packed in status.details:
        info, bad, retry = (error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest(),
                            error_details_pb2.RetryInfo())
        if packed.Unpack(info):
            found.update(reason=info.reason, domain=info.domain, metadata=dict(info.metadata))
        elif packed.Unpack(bad):
            violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
        elif packed.Unpack(retry):
            found["retry_delay_s"] = retry.retry_delay.ToNanoseconds() / 1e9
    return ErrorDetails(field_violations=tuple(violations), **found)  # type: ignore[arg-type]


def from_rpc_error(error: grpc.RpcError) -> VidsearchError:
    """The typed exception for a failed call (status code, message, request id, details)."""
    code_fn = getattr(error, "code", None)
    code = code_fn() if callable(code_fn) else grpc.StatusCode.UNKNOWN
    details_fn = getattr(error, "details", None)
    message = (details_fn() if callable(details_fn) else None) or str(error)
    cls = _BY_CODE.get(code, Unknown)
    return cls(message, request_id=_request_id(error), code=code, details=error_details(error))
