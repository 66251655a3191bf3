"""Typed exceptions for gRPC status codes, so callers catch ``NotFound`` instead of
inspecting ``grpc.RpcError.code()``. Each carries the server's message and request id."""

from __future__ import annotations

import grpc

REQUEST_ID_KEY = "x-request-id"


class VidsearchError(Exception):
    """Base class of every error the SDK raises for a failed call."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        code: grpc.StatusCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        if code is not None:  # e.g. ABORTED surfaced as Unavailable keeps its real code
            self.code = code

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


def from_rpc_error(error: grpc.RpcError) -> VidsearchError:
    """The typed exception for a failed call (status code, message, request id)."""
    code_fn = getattr(error, "code", None)
    code = code_fn() if callable(code_fn) else grpc.StatusCode.UNKNOWN
    details_fn = getattr(error, "details", None)
    message = (details_fn() if callable(details_fn) else None) or str(error)
    cls = _BY_CODE.get(code, Unknown)
    return cls(message, request_id=_request_id(error), code=code)
