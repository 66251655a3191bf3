"""The SDK's connection and call features against the scripted servicer on loopback (see
conftest): typed constructor, user agent, keepalive and channel options, per-call
metadata, RetryInfo-aware retries of RESOURCE_EXHAUSTED, list_videos over pages,
index_many's bounded concurrency and progress, an event loop that hashing never
blocks, and one API for the sync and async clients."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
import vidsearch_client as vc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from vidsearch_client import (
    AsyncVideoSearchClient,
    IndexItem,
    Keepalive,
    RetryPolicy,
    VideoFilter,
    VideoSearchClient,
    _upload,
)
from vidsearch_client._core import ClientCore

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.02)


def _overloaded(retry_after_s: float | None) -> grpc.Status:
    """What the vidsearch server answers when it sheds load (a RetryInfo, or none)."""
    details = []
    if retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(retry_after_s * 1e9))
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        details.append(packed)
    return rpc_status.to_status(status_pb2.Status(
        code=code_pb2.RESOURCE_EXHAUSTED, message="overloaded", details=details))


def test_constructor_is_typed_without_kwargs(tiny: Any) -> None:
    for cls in (VideoSearchClient, AsyncVideoSearchClient):
        params = inspect.signature(cls).parameters.values()
        assert not [p for p in params if p.kind is p.VAR_KEYWORD]
        assert all(p.annotation is not p.empty for p in params)
    with pytest.raises(TypeError, match="unexpected keyword"):
        VideoSearchClient(tiny.target, time_out=3)  # type: ignore[call-arg]


def test_user_agent_keepalive_and_channel_options_reach_the_channel(tiny: Any) -> None:
    keepalive = Keepalive(time_s=30, timeout_s=5)
    with VideoSearchClient(tiny.target, user_agent="my-app/2.1", keepalive=keepalive,
                           channel_options=[("grpc.max_reconnect_backoff_ms", 2000)]) as client:
        options = dict(client.settings.options())
        client.stats()
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.keepalive_timeout_ms"] == 5_000
    assert options["grpc.max_reconnect_backoff_ms"] == 2000
    (_, _, metadata), = tiny.servicer.unary
    agent = metadata["user-agent"]
    assert agent.startswith(f"my-app/2.1 vidsearch-client/{vc.__version__}"), agent
    with pytest.raises(ValueError, match="keepalive"):
        Keepalive(time_s=0)


def test_per_call_request_id_and_metadata(tiny: Any) -> None:
    with VideoSearchClient(tiny.target, token="s3cret", metadata=[("x-tenant", "acme")]) as c:
        c.get("a", request_id="trace-7", metadata=[("x-debug", "1")])
        c.get("b")
    (_, _, first), (_, _, second) = tiny.servicer.unary
    assert first["x-request-id"] == "trace-7" and first["x-debug"] == "1"
    assert first["authorization"] == "Bearer s3cret" and first["x-tenant"] == "acme"
    assert "x-request-id" not in second and "x-debug" not in second  # per call only
    assert second["x-tenant"] == "acme"


def test_resource_exhausted_is_retried_after_the_servers_retry_delay(tiny: Any) -> None:
    tiny.servicer.fail = [_overloaded(0.3)]
    with VideoSearchClient(tiny.target, retry=FAST_RETRY) as client:
        start = time.monotonic()
        assert client.stats().videos == 3
        waited = time.monotonic() - start
    assert len(tiny.servicer.unary) == 2 and waited >= 0.3  # honoured, not the 10 ms backoff


def test_resource_exhausted_without_retry_info_is_final(tiny: Any) -> None:
    tiny.servicer.fail = [_overloaded(None)]
    with (VideoSearchClient(tiny.target, retry=FAST_RETRY) as client,
          pytest.raises(vc.ResourceExhausted) as caught):
        client.stats()
    assert len(tiny.servicer.unary) == 1 and caught.value.retry_delay_s is None


def test_retry_delay_beyond_the_deadline_gives_up_with_the_delay(tiny: Any) -> None:
    tiny.servicer.fail = [_overloaded(5.0)]
    with (VideoSearchClient(tiny.target, retry=FAST_RETRY, timeout=1.0) as client,
          pytest.raises(vc.ResourceExhausted) as caught):
        client.stats()
    assert caught.value.retry_delay_s == pytest.approx(5.0)
    assert len(tiny.servicer.unary) == 1


def test_list_videos_fetches_pages_as_iteration_reaches_them(tiny: Any) -> None:
    with VideoSearchClient(tiny.target) as client:
        videos = client.list_videos(page_size=3, tags=["cats"], title_prefix="Ca")
        assert tiny.servicer.unary == []  # lazy: nothing asked yet
        assert next(videos).video_id == "v0"
        assert len(tiny.servicer.unary) == 1
        assert [v.video_id for v in videos] == [f"v{i}" for i in range(1, 7)]
        pages = list(client.list_video_pages(page_size=5, filter=VideoFilter(model_version=2)))
    requests = [r for name, r, _ in tiny.servicer.unary if name == "ListVideos"]
    assert [r.page_token for r in requests] == ["", "3", "6", "", "5"]
    assert list(requests[0].filter.tags) == ["cats"] and requests[0].filter.title_prefix == "Ca"
    assert requests[3].filter.model_version == 2
    assert [len(p.videos) for p in pages] == [5, 2] and pages[-1].next_page_token == ""


def test_update_video_sends_a_mask_of_what_was_given(tiny: Any) -> None:
    with VideoSearchClient(tiny.target) as client:
        video = client.update_video("v", tags=["x", "y"])
        client.update_video("v", title="")  # an empty title is a value, not "unchanged"
        with pytest.raises(ValueError, match="title and/or tags"):
            client.update_video("v")
    (_, first, _), (_, second, _) = tiny.servicer.unary
    assert list(first.update_mask.paths) == ["tags"] and video.tags == ("x", "y")
    assert list(second.update_mask.paths) == ["title"]


def _items(tmp_path: Path, n: int) -> list[IndexItem]:
    items = []
    for i in range(n):
        path = tmp_path / f"v{i}.mp4"
        path.write_bytes(bytes([i]) * 100)
        items.append(IndexItem(path, f"v{i}", title=f"T{i}", tags=("bulk",)))
    return items


def test_index_many_bounds_concurrency_reports_progress_and_keeps_going(
    tiny: Any, tmp_path: Path
) -> None:
    tiny.servicer.delay_s = 0.1
    items = _items(tmp_path, 6)
    items.insert(2, IndexItem(tmp_path / "missing.mp4", "gone"))
    seen: list[tuple[int, int, str]] = []
    with VideoSearchClient(tiny.target) as client:
        outcomes = client.index_many(items, concurrency=2, request_id="batch",
                                     progress=lambda d, t, o: seen.append((d, t, o.item.video_id)))
    assert tiny.servicer.max_inflight == 2
    assert [o.item for o in outcomes] == items  # the items' order
    assert [o.ok for o in outcomes] == [True, True, False, True, True, True, True]
    assert isinstance(outcomes[2].error, FileNotFoundError)
    assert [d for d, _, _ in seen] == list(range(1, 8)) and {t for _, t, _ in seen} == {7}
    sent = sorted(u.metadata["x-request-id"] for u in tiny.servicer.uploads)
    assert sent == sorted(f"batch-{i}" for i in (0, 1, 3, 4, 5, 6))
    assert {u.header.title for u in tiny.servicer.uploads} == {f"T{i}" for i in range(6)}


def test_async_index_many_and_list_videos(tiny: Any, tmp_path: Path) -> None:
    tiny.servicer.delay_s = 0.1
    items = _items(tmp_path, 5)
    done: list[int] = []

    async def run() -> tuple[list[Any], list[str]]:
        async with AsyncVideoSearchClient(tiny.target) as client:
            outcomes = await client.index_many(items, concurrency=3,
                                               progress=lambda d, t, o: done.append(d))
            listed = [v.video_id async for v in client.list_videos(page_size=4)]
        return outcomes, listed

    outcomes, listed = asyncio.run(run())
    assert all(o.ok for o in outcomes) and [o.item for o in outcomes] == items
    assert tiny.servicer.max_inflight == 3 and done == [1, 2, 3, 4, 5]
    assert listed == [f"v{i}" for i in range(7)]


def test_async_client_hashes_files_off_the_event_loop(
    tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow hash (a big file) must not stop other tasks: stand in for one by a hash
    that takes 0.5 s, and count the ticks of a task running meanwhile."""
    real = _upload.file_sha256

    def slow_sha256(path: Path) -> str:
        time.sleep(0.5)
        return real(path)

    monkeypatch.setattr(_upload, "file_sha256", slow_sha256)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x" * 1000)

    async def run() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        task = asyncio.create_task(ticker())
        async with AsyncVideoSearchClient(tiny.target) as client:
            await client.index_file(video, "clip")
        task.cancel()
        return ticks

    assert asyncio.run(run()) >= 10  # ~25 when the loop is free; 0-1 if hashing blocked it


TRACE: contextvars.ContextVar[str] = contextvars.ContextVar("trace", default="none")


class _SeesTrace(grpc.UnaryUnaryClientInterceptor):
    """What a tracing interceptor sees: the caller's context variables at call time."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self.seen.append(TRACE.get())
        return continuation(details, request)


def test_async_calls_run_in_the_callers_context_on_an_injected_channel(tiny: Any) -> None:
    interceptor = _SeesTrace()
    channel = grpc.intercept_channel(grpc.insecure_channel(tiny.target), interceptor)

    async def run() -> None:
        async with AsyncVideoSearchClient(channel=channel) as client:
            TRACE.set("task-1")
            await client.stats()
            assert [v.video_id async for v in client.list_videos(page_size=7)] == [
                f"v{i}" for i in range(7)]

    asyncio.run(run())
    channel.close()
    assert interceptor.seen == ["task-1", "task-1"]


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in inspect.getmembers(cls)
            if not name.startswith("_") and callable(member)}


def test_sync_and_async_clients_expose_the_same_methods_and_signatures() -> None:
    sync, aio = _public(VideoSearchClient), _public(AsyncVideoSearchClient)
    assert set(sync) == set(aio)
    assert {"list_videos", "list_video_pages", "update_video", "index_many"} <= set(sync)
    for name in sync:
        assert list(sync[name].parameters.values()) == list(aio[name].parameters.values()), name
        shared = name in vars(ClientCore)  # one implementation for both (timeout_for)
        if not shared and name not in ("close", "list_videos", "list_video_pages"):
            assert inspect.iscoroutinefunction(getattr(AsyncVideoSearchClient, name)), name
    for name in ("list_videos", "list_video_pages"):
        assert inspect.isasyncgenfunction(getattr(AsyncVideoSearchClient, name))
    assert inspect.iscoroutinefunction(AsyncVideoSearchClient.close)
