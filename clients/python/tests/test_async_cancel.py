"""Cancelling the asyncio task that awaits an async call (``task.cancel()``,
``asyncio.wait_for``): the task ends at once and the RPC is cancelled, which the scripted
servicer sees as its call's context going inactive; a retry backoff is cut short with no
further attempt; ``index_many`` sends no item it had not started."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from vidsearch_client import AsyncVideoSearchClient, IndexItem, RetryPolicy


async def _until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    end = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.005)


async def _cancel_when(task: asyncio.Task[Any], started: Callable[[], bool]) -> float:
    """Cancel ``task`` once ``started()``; how long the task took to end after that."""
    await _until(started)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return time.monotonic() - cancelled_at


@pytest.mark.parametrize("call", ["search_video", "index_file", "stats"])
def test_cancelling_the_task_cancels_the_rpc(tiny: Any, call: str) -> None:
    tiny.servicer.delay_s = 30.0  # the server is still working when the task is cancelled
    client = AsyncVideoSearchClient(tiny.target, timeout=60)  # made outside any loop
    calls: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
        "search_video": lambda: client.search_video(b"q" * 5000, chunk_size=1000),
        "index_file": lambda: client.index_file(b"v" * 5000, "v", chunk_size=1000),
        "stats": lambda: client.stats(),
    }

    async def scenario() -> float:
        async with client:
            task = asyncio.create_task(calls[call]())
            took = await _cancel_when(task, lambda: tiny.servicer.inflight == 1)
            await _until(lambda: tiny.servicer.abandoned == 1, within_s=2.0)
            return took

    assert asyncio.run(scenario()) < 0.2
    assert tiny.servicer.inflight == 0  # the servicer stopped waiting: the call is over


def test_wait_for_timeout_cancels_the_rpc(tiny: Any) -> None:
    tiny.servicer.delay_s = 30.0

    async def scenario() -> None:
        async with AsyncVideoSearchClient(tiny.target, timeout=60) as client:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.search_text("a red circle"), 0.3)
            await _until(lambda: tiny.servicer.abandoned == 1, within_s=2.0)

    asyncio.run(scenario())


def test_cancelling_during_a_backoff_stops_the_retries(tiny: Any) -> None:
    tiny.servicer.fail = [grpc.StatusCode.UNAVAILABLE] * 3
    slow = RetryPolicy(max_attempts=4, initial_backoff_s=0.5, jitter=0.0)

    async def scenario() -> float:
        async with AsyncVideoSearchClient(tiny.target, timeout=60, retry=slow) as client:
            task = asyncio.create_task(client.stats())
            took = await _cancel_when(task, lambda: len(tiny.servicer.unary) == 1)
            await asyncio.sleep(1.0)  # a thread still retrying would have tried again
            return took

    assert asyncio.run(scenario()) < 0.2
    assert len(tiny.servicer.unary) == 1


def test_cancelling_index_many_sends_no_further_item(tiny: Any, tmp_path: Path) -> None:
    tiny.servicer.delay_s = 30.0
    items = []
    for i in range(5):
        (tmp_path / f"{i}.mp4").write_bytes(bytes([i]) * 100)
        items.append(IndexItem(tmp_path / f"{i}.mp4", f"v{i}"))

    async def scenario() -> float:
        async with AsyncVideoSearchClient(tiny.target, timeout=60) as client:
            task = asyncio.create_task(client.index_many(items, concurrency=1))
            took = await _cancel_when(task, lambda: tiny.servicer.inflight == 1)
            await _until(lambda: tiny.servicer.abandoned == 1, within_s=2.0)
            await asyncio.sleep(0.3)
            return took

    assert asyncio.run(scenario()) < 0.2
    assert len(tiny.servicer.uploads) == 1


def test_an_aio_channel_is_refused() -> None:
    async def scenario() -> None:
        channel = grpc.aio.insecure_channel("127.0.0.1:1")
        with pytest.raises(TypeError, match=r"grpc\.Channel"):
            AsyncVideoSearchClient(channel=channel)
        await channel.close()

    asyncio.run(scenario())
