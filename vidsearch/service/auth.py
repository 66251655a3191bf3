"""Bearer-token authentication with per-token scopes, as a gRPC server interceptor.

The tokens file never holds a token, only its SHA-256 (hex), so a leaked file or config
dump grants nothing; plaintext tokens are never logged either (a failure logs the first
8 hex digits of the digest, enough to find the entry). Format (YAML or JSON)::

    tokens:
      <sha256(token) hex>: {scopes: [search], expires: 2026-01-01T00:00:00Z, name: ci}

Scopes: ``search`` (SearchByVideo, SearchByText, GetVideo, Recommend, Stats,
StreamVideo), ``index`` (IndexVideo, DeleteVideo), ``admin`` (everything, including RPCs
added later). The standard health service needs no token: Kubernetes probes and load
balancers have none.
Create entries with ``vidsearch auth new-token`` / ``hash-token`` (``auth_cli``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import grpc
import yaml

log = logging.getLogger(__name__)

SCOPES = frozenset({"search", "index", "admin"})
_SERVICE = "/vidsearch.v1.VideoSearch/"
# Every RPC of the service is listed (a test checks): readers need "search", writers of the
# catalog or the tag library "index"; an RPC missing here would fall back to "admin".
_READ = ("SearchByVideo", "SearchByText", "SearchBySentence", "SearchByAudio", "GetVideo",
         "ListVideos", "Recommend", "Stats", "StreamVideo", "SuggestTags", "ListTags",
         "FindVideosByTag")
_WRITE = ("IndexVideo", "DeleteVideo", "UpdateVideo", "UpsertTags", "DeleteTags", "TagVideos")
METHOD_SCOPES: Mapping[str, str] = {
    **{f"{_SERVICE}{rpc}": "search" for rpc in _READ},
    **{f"{_SERVICE}{rpc}": "index" for rpc in _WRITE},
}
PUBLIC_PREFIXES = ("/grpc.health.v1.Health/",)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenEntry:
    scopes: frozenset[str]
    expires: datetime | None = None
    name: str = ""

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def _expiry(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise ValueError(f"{where}: expires must be an ISO-8601 date/time, got {value!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class TokenStore:
    """sha256(token) → scopes and expiry, loaded once at start-up."""

    def __init__(self, entries: Mapping[str, TokenEntry]) -> None:
        self._entries = dict(entries)

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def load(cls, path: Path) -> TokenStore:
        """Parse and validate the tokens file; any mistake stops the server from starting."""
        data = yaml.safe_load(path.read_text()) or {}  # JSON is YAML too
        if isinstance(data, dict) and "tokens" in data:
            data = data["tokens"]
        if not isinstance(data, dict) or not data:
            raise ValueError(f"{path}: expected a non-empty mapping sha256(token) -> entry")
        entries: dict[str, TokenEntry] = {}
        for key, raw in data.items():
            digest = str(key).strip().lower()
            where = f"{path}: entry {digest[:8]}"
            if not _HEX64.match(digest):
                raise ValueError(f"{path}: keys must be sha256(token) as 64 hex digits, not tokens")
            spec = raw if isinstance(raw, dict) else {"scopes": raw}
            scopes = spec.get("scopes")
            scopes = [scopes] if isinstance(scopes, str) else scopes
            if not scopes or not set(scopes) <= SCOPES:
                raise ValueError(f"{where}: scopes must be a non-empty subset of {sorted(SCOPES)}")
            expires = _expiry(spec.get("expires"), where)
            entries[digest] = TokenEntry(frozenset(scopes), expires, str(spec.get("name", "")))
        return cls(entries)

    def check(self, token: str | None, method: str, now: datetime | None = None) -> TokenEntry:
        """The entry of a token allowed to call ``method``; raises _Denied otherwise."""
        if not token:
            raise _Denied(
                grpc.StatusCode.UNAUTHENTICATED,
                "this server requires a bearer token: send metadata 'authorization: Bearer "
                "<token>' (SDK: token=... or $VIDSEARCH_TOKEN)",
                reason="TOKEN_MISSING",
            )
        digest = token_digest(token)
        entry = self._entries.get(digest)
        if entry is None:
            raise _Denied(grpc.StatusCode.UNAUTHENTICATED, "the bearer token is not valid", digest,
                          reason="TOKEN_INVALID")  # fmt: skip
        moment = now or datetime.now(UTC)
        if entry.expires is not None and entry.expires <= moment:
            raise _Denied(
                grpc.StatusCode.UNAUTHENTICATED,
                f"the bearer token expired at {entry.expires.isoformat()}; ask for a new one",
                digest,
                reason="TOKEN_EXPIRED",
            )
        scope = METHOD_SCOPES.get(method, "admin")
        if not entry.allows(scope):
            rpc = method.rsplit("/", 1)[-1]
            raise _Denied(
                grpc.StatusCode.PERMISSION_DENIED,
                f"this token may not call {rpc}: it needs scope {scope!r} "
                f"(the token has {sorted(entry.scopes)})",
                digest,
                reason="SCOPE_MISSING",
            )
        return entry


class _Denied(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, digest: str = "", *,
                 reason: str) -> None:  # fmt: skip
        super().__init__(message)
        self.code, self.message, self.digest, self.reason = code, message, digest, reason


def bearer_token(metadata: Any) -> str | None:
    """The token of an ``authorization: Bearer <token>`` header; None when absent."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _rejecting(handler: grpc.RpcMethodHandler, denied: _Denied) -> Any:
    """A handler of the same shape as ``handler`` that aborts before any work, with the
    same ``google.rpc.Status`` details (ErrorInfo reason, request id) as every error."""
    # Imported here: the token CLI imports this module, and `vidsearch --help` must not
    # pull in the serving stack (av, qdrant_client) that the error table names.
    from vidsearch.service.calls import request_id_of
    from vidsearch.service.errors import Failure, to_status

    failure = Failure(denied.code, denied.message, denied.reason)

    def abort(_request: Any, context: grpc.ServicerContext) -> Any:
        context.abort_with_status(to_status(failure, request_id_of(context)))

    kind: Callable[..., Any]
    if handler.request_streaming and handler.response_streaming:
        kind = grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        kind = grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        kind = grpc.unary_stream_rpc_method_handler
    else:
        kind = grpc.unary_unary_rpc_method_handler
    return kind(
        abort,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class AuthInterceptor(grpc.ServerInterceptor):
    """Checks the bearer token and its scope before the servicer sees the call."""

    def __init__(self, store: TokenStore) -> None:
        self._store = store

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        token = bearer_token(handler_call_details.invocation_metadata)
        try:
            self._store.check(token, method)
        except _Denied as denied:
            log.warning(
                "rejected %s: %s",
                method,
                denied.code.name,
                extra={"method": method, "code": denied.code.name, "token_id": denied.digest[:8]},
            )
            return _rejecting(handler, denied)
        return handler
