"""asyncio client: the sync client's calls, each run in a worker thread.

Why not grpc.aio: the former async client repeated every call's body over grpc.aio. Call
specs (request or upload stream, converter, retry policy) run by a sync and a grpc.aio
runner would still keep the retry loop, the upload stream, the download loop, pagination
and bulk indexing twice, and keep grpc.aio, whose process-wide poller has hung calls in
processes that also host the sync gRPC server, Ray's driver or other event loops (the
review page's CI hang). Here each call is written once, in
:class:`~vidsearch_client.client.VideoSearchClient` and its mixins, and this client runs
it in a worker thread of its own pool on a sync channel: signatures and docstrings are the
sync methods' (ParamSpec-typed wrappers), results, errors and retries are theirs, and the
event loop never blocks (file hashing and reads, the RPC, a download's writes all happen
in the thread). Cost, measured against the
grpc.aio client on loopback: ~0.3 ms more a call (the thread hop and the future API), and
at most ``WORKERS`` calls in flight per client (the server serves 8 at a time by default).
Being on a sync channel, the client may be created outside a running loop, and
``channel=`` takes a ``grpc.Channel``.

Cancellation: cancelling the task awaiting a call (``task.cancel()``,
``asyncio.wait_for``, a TaskGroup failing) raises CancelledError in it at once and
cancels the call's scope (see ``_cancel``): the RPC in flight is cancelled through the
sync stubs' future API (the server sees CANCELLED: an upload stops being read, a
search's context goes inactive), a retry backoff ends with no further attempt, a
download's partial file is removed, and ``index_many`` sends no item it had not started.
A hash already running finishes in its thread but sends nothing. With grpc.aio the RPC
was cancelled with its task natively, but ``index_many``'s items, tasks of their own, went
on after the batch was cancelled.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from vidsearch_client import _cancel
from vidsearch_client._cancel import CallScope, context_with
from vidsearch_client._core import ClientCore
from vidsearch_client.client import VideoSearchClient
from vidsearch_client.types import IndexOutcome, IndexProgress

P = ParamSpec("P")
T = TypeVar("T")
Sync = Callable[Concatenate[VideoSearchClient, P], T]
Async = Callable[Concatenate["AsyncVideoSearchClient", P], T]
WORKERS = 64  # threads per client: the most calls it has in flight at once
_END = object()


def _named_like(call: Callable[..., Any], method: Callable[..., Any]) -> None:
    """The sync method's name, docstring and signature (``inspect`` follows __wrapped__)."""
    functools.update_wrapper(call, method, assigned=("__name__", "__doc__"))
    call.__qualname__ = f"AsyncVideoSearchClient.{method.__name__}"


def _in_thread(method: Sync[P, T]) -> Async[P, Coroutine[Any, Any, T]]:
    """``method`` as a coroutine: the sync client's call run in a worker thread."""

    async def call(self: AsyncVideoSearchClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(functools.partial(method, self._sync, *args, **kwargs))

    _named_like(call, method)
    return call


def _in_thread_iter(method: Sync[P, Iterator[T]]) -> Async[P, AsyncIterator[T]]:
    """``method`` (a lazy generator) as an async generator: each ``next`` in a thread."""

    async def call(
        self: AsyncVideoSearchClient, /, *args: P.args, **kwargs: P.kwargs
    ) -> AsyncIterator[T]:
        items = method(self._sync, *args, **kwargs)  # a generator: nothing is fetched yet
        while (item := await self._run(functools.partial(next, items, _END))) is not _END:
            yield cast(T, item)

    _named_like(call, method)
    return call


def _progress_on_loop(method: Sync[P, T]) -> Async[P, Coroutine[Any, Any, T]]:
    """Like :func:`_in_thread`, with ``progress`` called on the event loop (where an async
    caller's objects live) while the batch waits for it, as the sync client's does."""

    async def call(self: AsyncVideoSearchClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        progress = cast("IndexProgress | None", kwargs.get("progress"))
        if progress is not None:
            kwargs["progress"] = _on_loop(progress, asyncio.get_running_loop())
        return await self._run(functools.partial(method, self._sync, *args, **kwargs))

    _named_like(call, method)
    return call


def _on_loop(progress: IndexProgress, loop: asyncio.AbstractEventLoop) -> IndexProgress:
    async def report(done: int, total: int, outcome: IndexOutcome) -> None:
        progress(done, total, outcome)

    def from_thread(done: int, total: int, outcome: IndexOutcome) -> None:
        scope = _cancel.current_scope()
        if scope is None or not scope.cancelled:  # a cancelled batch's loop may be gone
            asyncio.run_coroutine_threadsafe(report(done, total, outcome), loop).result()

    return from_thread


class AsyncVideoSearchClient(ClientCore):
    """Async client; ``async with AsyncVideoSearchClient(...) as client: ...``. The same
    constructor, calls and errors as :class:`~vidsearch_client.client.VideoSearchClient`,
    each call awaited (``list_videos`` and ``list_video_pages`` are async iterators)."""

    def _ready(self) -> None:
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="vidsearch-client")
        # The calls' code: a sync client on this client's channel, deadline, retry policy
        # and metadata (token included).
        self._sync = VideoSearchClient(
            self.target,
            channel=self._channel,
            timeout=self.timeout,
            retry=self.retry,
            metadata=self.metadata,
        )

    async def _run(self, fn: Callable[[], T]) -> T:
        """``fn()`` in a worker thread; cancelling the awaiting task cancels its RPCs."""
        scope = CallScope()
        running = asyncio.get_running_loop().run_in_executor(
            self._pool, context_with(scope).run, fn
        )
        try:
            return await running
        except asyncio.CancelledError:
            scope.cancel()
            raise

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._owns_channel:
            self._channel.close()

    async def __aenter__(self) -> AsyncVideoSearchClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    index_file = _in_thread(VideoSearchClient.index_file)
    index_uri = _in_thread(VideoSearchClient.index_uri)
    index_many = _progress_on_loop(VideoSearchClient.index_many)
    delete = _in_thread(VideoSearchClient.delete)
    get = _in_thread(VideoSearchClient.get)
    update_video = _in_thread(VideoSearchClient.update_video)
    list_video_pages = _in_thread_iter(VideoSearchClient.list_video_pages)
    list_videos = _in_thread_iter(VideoSearchClient.list_videos)
    download = _in_thread(VideoSearchClient.download)
    search_video = _in_thread(VideoSearchClient.search_video)
    search_uri = _in_thread(VideoSearchClient.search_uri)
    search_text = _in_thread(VideoSearchClient.search_text)
    search_sentence = _in_thread(VideoSearchClient.search_sentence)
    search_audio = _in_thread(VideoSearchClient.search_audio)
    recommend = _in_thread(VideoSearchClient.recommend)
    suggest_tags = _in_thread(VideoSearchClient.suggest_tags)
    suggest_tags_for_video = _in_thread(VideoSearchClient.suggest_tags_for_video)
    add_tags = _in_thread(VideoSearchClient.add_tags)
    delete_tags = _in_thread(VideoSearchClient.delete_tags)
    list_tags = _in_thread(VideoSearchClient.list_tags)
    tag_videos = _in_thread(VideoSearchClient.tag_videos)
    videos_with_tag = _in_thread(VideoSearchClient.videos_with_tag)
    stats = _in_thread(VideoSearchClient.stats)
    health = _in_thread(VideoSearchClient.health)
