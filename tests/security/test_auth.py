"""Bearer tokens with scopes: missing, unknown, expired and under-scoped tokens are
refused before the servicer runs; health stays open for probes; tokens never reach logs."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import grpc
import pytest
import vidsearch_client as vc
from vidsearch_client import RetryPolicy, VideoSearchClient
from vidsearch_client.v1 import vidsearch_pb2 as pb
from vidsearch_client.v1 import vidsearch_pb2_grpc as pb_grpc

from vidsearch.service.auth import METHOD_SCOPES, TokenStore, bearer_token, token_digest

TOKENS: dict[str, str] = {
    "search": "s3arch-t0ken-f0r-tests-only",
    "index": "ind3x-t0ken-f0r-tests-only",
    "admin": "adm1n-t0ken-f0r-tests-only",
    "expired": "exp1red-t0ken-f0r-tests-only",
}
MP4 = b"\x00\x00\x00\x18ftypisom" + bytes(64)


def _client(target: str, token: str | None) -> VideoSearchClient:
    return VideoSearchClient(target, token=token, timeout=10, retry=RetryPolicy(max_attempts=1))


@pytest.fixture
def target(start_server: Any, tokens_file: Path) -> str:
    return str(start_server(auth_tokens_file=tokens_file).target)


def test_no_token_is_unauthenticated(target: str) -> None:
    with _client(target, None) as client:
        with pytest.raises(vc.Unauthenticated, match="requires a bearer token") as caught:
            client.stats(request_id="auth-check-1")
        # the same google.rpc.Status details as every other error (ErrorInfo, request id)
        assert caught.value.reason == "TOKEN_MISSING"
        assert caught.value.details.domain == "vidsearch"
        assert caught.value.request_id == "auth-check-1"
        with pytest.raises(vc.Unauthenticated):
            client.index_file(MP4, "v1")
        with pytest.raises(vc.Unauthenticated):
            client.search_video(MP4)


def test_unknown_and_malformed_tokens_are_unauthenticated(target: str) -> None:
    with _client(target, "not-a-token") as client, pytest.raises(vc.Unauthenticated):
        client.get("v1")
    stub = pb_grpc.VideoSearchStub(grpc.insecure_channel(target))
    basic = (("authorization", f"Basic {TOKENS['admin']}"),)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Stats(pb.StatsRequest(), metadata=basic, timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_expired_token_is_unauthenticated(target: str) -> None:
    client = _client(target, TOKENS["expired"])
    with client, pytest.raises(vc.Unauthenticated, match="expired") as caught:
        client.stats()
    assert caught.value.reason == "TOKEN_EXPIRED"


def test_scopes(target: str) -> None:
    with _client(target, TOKENS["search"]) as searcher:
        assert not searcher.search_video(MP4).hits
        assert searcher.get("v1").video_id == "v1"
        searcher.recommend("v1")
        searcher.stats()
        with pytest.raises(vc.PermissionDenied, match="needs scope 'index'"):
            searcher.add_tags(["red ring"])  # writing the tag library is indexing
        with pytest.raises(vc.PermissionDenied, match="needs scope 'index'") as caught:
            searcher.index_file(MP4, "v1")
        assert caught.value.reason == "SCOPE_MISSING"
        with pytest.raises(vc.PermissionDenied):
            searcher.delete("v1")
    with _client(target, TOKENS["index"]) as indexer:
        assert indexer.index_file(MP4, "v1").video.video_id == "v1"
        assert indexer.delete("v1") is False
        with pytest.raises(vc.PermissionDenied, match="needs scope 'search'"):
            indexer.search_video(MP4)
        with pytest.raises(vc.PermissionDenied, match="needs scope 'search'"):
            indexer.list_tags()  # reading it is searching
    with _client(target, TOKENS["admin"]) as admin:
        admin.index_file(MP4, "v1")
        admin.search_video(MP4)
        admin.delete("v1")


def test_every_rpc_has_a_scope() -> None:
    """A new RPC must be given a scope on purpose: unlisted ones need admin."""
    service = pb.DESCRIPTOR.services_by_name["VideoSearch"]
    paths = {f"/{service.full_name}/{m.name}" for m in service.methods}
    assert paths == set(METHOD_SCOPES), sorted(paths ^ set(METHOD_SCOPES))


def test_health_needs_no_token(target: str) -> None:
    with _client(target, None) as client:
        assert client.health() == "SERVING"
        assert client.health("vidsearch.v1.VideoSearch") == "SERVING"


def test_tokens_never_logged(
    start_server: Any, tokens_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    target = start_server(auth_tokens_file=tokens_file).target
    for name, token in TOKENS.items():
        with _client(target, token) as client:
            try:
                client.stats()
                client.index_file(MP4, f"v-{name}")
            except vc.VidsearchError:
                pass
    with _client(target, "wrong-token-value") as client, pytest.raises(vc.Unauthenticated):
        client.stats()
    assert "rejected" in caplog.text  # the failures were logged...
    for token in [*TOKENS.values(), "wrong-token-value"]:
        assert token not in caplog.text  # ...without the secret
    assert token_digest(TOKENS["expired"]) not in caplog.text  # not even the whole digest


def test_auth_is_off_by_default(start_server: Any) -> None:
    with _client(start_server().target, None) as client:
        client.stats()


def test_tokens_file_validation(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(f"{TOKENS['admin']}: [admin]\n")  # a plaintext token by mistake
    with pytest.raises(ValueError, match="64 hex digits"):
        TokenStore.load(path)
    path.write_text(f"{token_digest('x')}: {{scopes: [root]}}\n")
    with pytest.raises(ValueError, match="scopes must be"):
        TokenStore.load(path)
    path.write_text(f"tokens:\n  {token_digest('x')}: {{scopes: search, expires: 2999-01-01}}\n")
    store = TokenStore.load(path)
    assert store.check("x", "/vidsearch.v1.VideoSearch/GetVideo").scopes == {"search"}
    later = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(Exception, match="expired"):
        store.check("x", "/vidsearch.v1.VideoSearch/GetVideo", now=later)
    with pytest.raises(Exception, match="needs scope 'admin'"):
        store.check("x", "/vidsearch.v1.VideoSearch/SomeFutureRpc")
    path.write_text(json.dumps({}))
    with pytest.raises(ValueError, match="non-empty"):
        TokenStore.load(path)


def test_bearer_token_parsing() -> None:
    assert bearer_token((("authorization", "Bearer abc"),)) == "abc"
    assert bearer_token((("authorization", "bearer  abc "),)) == "abc"
    assert bearer_token((("authorization", "Basic abc"),)) is None
    assert bearer_token((("x-other", "Bearer abc"),)) is None
    assert bearer_token(None) is None
