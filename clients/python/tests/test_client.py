"""SDK behaviour against a tiny scripted servicer on loopback (see conftest): chunking,
retries with backoff on UNAVAILABLE only (uploads re-sent whole), deadlines, bearer
metadata, typed errors, result conversion; sync and async clients."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
import vidsearch_client as vc
from vidsearch_client import AsyncVideoSearchClient, RetryPolicy, SearchOptions, VideoSearchClient

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff_s=0.01, max_backoff_s=0.05)


def test_index_file_streams_numbered_chunks_with_digest(tiny: Any, tmp_path: Path) -> None:
    data = bytes(range(256)) * 10  # 2560 bytes
    video = tmp_path / "clip.mp4"
    video.write_bytes(data)
    with VideoSearchClient(tiny.target, timeout=5) as client:
        result = client.index_file(video, "clip", title="T", tags=["a", "b"], chunk_size=1000)
    (upload,) = tiny.servicer.uploads
    assert [c.sequence for c in upload.chunks] == [0, 1, 2]
    assert [len(c.data) for c in upload.chunks] == [1000, 1000, 560]
    assert upload.data == data
    assert upload.header.video_id == "clip" and list(upload.header.tags) == ["a", "b"]
    assert upload.header.media.total_bytes == len(data)
    assert upload.header.media.content_sha256 == hashlib.sha256(data).hexdigest()
    assert result.video.video_id == "clip" and result.video.tags == ("a", "b")
    assert result.video.content_sha256 == hashlib.sha256(data).hexdigest()


def test_index_uri_sends_header_only(tiny: Any) -> None:
    with VideoSearchClient(tiny.target) as client:
        result = client.index_uri("file:///srv/videos/a.mp4", "a", content_sha256="AB" * 32)
    (upload,) = tiny.servicer.uploads
    assert upload.chunks == []
    assert upload.header.media.source_uri == "file:///srv/videos/a.mp4"
    assert upload.header.media.content_sha256 == "ab" * 32
    assert not upload.header.media.HasField("total_bytes")
    assert result.video.source == "file:///srv/videos/a.mp4"


def test_missing_file_fails_locally(tiny: Any, tmp_path: Path) -> None:
    with VideoSearchClient(tiny.target) as client, pytest.raises(FileNotFoundError):
        client.index_file(tmp_path / "nope.mp4", "x")
    assert tiny.servicer.uploads == []


def test_unavailable_is_retried_and_upload_resent_from_start(tiny: Any) -> None:
    tiny.servicer.fail = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    data = b"0123456789" * 50
    with VideoSearchClient(tiny.target, retry=FAST_RETRY) as client:
        client.index_file(data, "v", chunk_size=64)
    assert len(tiny.servicer.uploads) == 3
    for upload in tiny.servicer.uploads:
        assert upload.data == data
        assert [c.sequence for c in upload.chunks] == list(range(8))


def test_retries_give_up_after_max_attempts(tiny: Any) -> None:
    tiny.servicer.fail = [grpc.StatusCode.UNAVAILABLE] * 5
    policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.01)
    with VideoSearchClient(tiny.target, retry=policy) as client, pytest.raises(vc.Unavailable):
        client.stats()
    assert len(tiny.servicer.unary) == 3


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, vc.InvalidArgument),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, vc.ResourceExhausted),
        (grpc.StatusCode.PERMISSION_DENIED, vc.PermissionDenied),
        (grpc.StatusCode.UNAUTHENTICATED, vc.Unauthenticated),
        (grpc.StatusCode.FAILED_PRECONDITION, vc.FailedPrecondition),
        (grpc.StatusCode.DEADLINE_EXCEEDED, vc.DeadlineExceeded),
        (grpc.StatusCode.INTERNAL, vc.Internal),
    ],
)
def test_other_codes_are_typed_and_not_retried(
    tiny: Any, code: grpc.StatusCode, error: type[vc.VidsearchError]
) -> None:
    tiny.servicer.fail = [code]
    client = VideoSearchClient(tiny.target, retry=FAST_RETRY)
    with client, pytest.raises(error) as caught:
        client.search_video(b"abc")
    assert caught.value.message == f"scripted {code.name}"
    assert caught.value.request_id == "req-123"
    assert caught.value.code == code
    assert len(tiny.servicer.uploads) == 1


def test_not_found_from_get(tiny: Any) -> None:
    with VideoSearchClient(tiny.target) as client, pytest.raises(vc.NotFound, match="missing"):
        client.get("missing")


def test_deadline_exceeded_is_raised_promptly(tiny: Any) -> None:
    tiny.servicer.delay_s = 1.0
    start = time.monotonic()
    client = VideoSearchClient(tiny.target, timeout=0.2, retry=FAST_RETRY)
    with client, pytest.raises(vc.DeadlineExceeded):
        client.stats()
    assert time.monotonic() - start < 0.9


def test_overall_deadline_bounds_retries(tiny: Any) -> None:
    tiny.servicer.fail = [grpc.StatusCode.UNAVAILABLE] * 10
    slow = RetryPolicy(max_attempts=10, initial_backoff_s=0.5, jitter=0.0)
    start = time.monotonic()
    client = VideoSearchClient(tiny.target, timeout=0.3, retry=slow)
    with client, pytest.raises(vc.Unavailable):
        client.stats()
    assert time.monotonic() - start < 0.5  # a backoff past the deadline is not slept


def test_unreachable_server_is_unavailable() -> None:
    policy = RetryPolicy(max_attempts=2, initial_backoff_s=0.01)
    client = VideoSearchClient("127.0.0.1:1", timeout=2, retry=policy)
    with client, pytest.raises(vc.Unavailable):
        client.stats()


def test_bearer_token_is_sent(tiny: Any) -> None:
    with VideoSearchClient(tiny.target, token="s3cret") as client:
        client.stats()
        client.index_file(b"abc", "v")
    assert tiny.servicer.unary[0][2]["authorization"] == "Bearer s3cret"
    assert tiny.servicer.uploads[0].metadata["authorization"] == "Bearer s3cret"


def test_search_options_and_result_conversion(tiny: Any) -> None:
    with VideoSearchClient(tiny.target) as client:
        result = client.search_video(
            b"query", SearchOptions(top_k=3, min_repetition=0.5), mode="duration", top_k=7
        )
    options = tiny.servicer.uploads[0].header.options
    assert options.top_k == 7 and options.min_repetition == 0.5  # keyword wins
    assert options.mode == 2  # SEARCH_MODE_DURATION
    assert not options.HasField("max_hamming") and not options.HasField("model_version")
    assert result.mode == "keyframe" and result.model_version == 2
    assert result.stage_seconds == {"decode": 0.2, "rerank": 0.01}
    best = result.hits[0]
    assert best.video.video_id == "ref-1" and best.hamming == 7
    assert best.segments[0].reference_start_s == 10.0


def test_recommend_stats_delete_health(tiny: Any) -> None:
    with VideoSearchClient(tiny.target) as client:
        assert [n.video.video_id for n in client.recommend("seed", k=3)] == ["n0", "n1", "n2"]
        assert len(client.recommend("seed", k=None)) == 5
        assert client.stats().keyframes == 39
        assert client.delete("v") is True and client.delete("missing") is False
        assert client.health() == "SERVING"
    assert not tiny.servicer.unary[1][1].HasField("k")


def test_backoff_grows_is_capped_and_jittered() -> None:
    policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=1.0, multiplier=2.0, jitter=0.5)
    rng = random.Random(0)
    for failures, base in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = {policy.backoff(failures, rng) for _ in range(20)}
        assert all(base * 0.5 <= d <= base for d in delays)
        assert len(delays) > 1  # jitter spreads clients apart
    assert RetryPolicy(jitter=0.0).backoff(2) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_invalid_arguments_fail_before_sending(tiny: Any) -> None:
    with VideoSearchClient(tiny.target) as client:
        with pytest.raises(ValueError):
            client.index_file(b"abc", "v", chunk_size=0)
        with pytest.raises(ValueError):
            client.stats(timeout=0)
        with pytest.raises(ValueError):
            SearchOptions(mode="fastest")  # type: ignore[arg-type]


def test_async_client(tiny: Any) -> None:
    tiny.servicer.fail = [grpc.StatusCode.UNAVAILABLE]

    async def scenario() -> None:
        async with AsyncVideoSearchClient(tiny.target, retry=FAST_RETRY, token="t") as client:
            indexed = await client.index_file(b"x" * 300, "av", chunk_size=128)
            assert indexed.video.video_id == "av"
            result = await client.search_video(b"q", top_k=2)
            assert result.hits[0].video.video_id == "ref-1"
            assert (await client.stats()).videos == 3
            text = await client.search_text("a red circle", candidates=7, rerank=False)
            assert text.keywords == ("red circle", "circle")
            assert text.hits[0].text is not None and text.hits[0].text.fine == 0.3
            assert await client.health() == "SERVING"
            with pytest.raises(vc.NotFound):
                await client.get("missing")

    asyncio.run(scenario())
    first, second = tiny.servicer.uploads[:2]  # the UNAVAILABLE attempt, then the retry
    assert first.data == second.data == b"x" * 300
    assert [c.sequence for c in second.chunks] == [0, 1, 2]
    assert second.metadata["authorization"] == "Bearer t"
    _, request, _ = next(u for u in tiny.servicer.unary if u[0] == "SearchByText")
    assert (request.text, request.options.candidates, request.options.rerank) == (
        "a red circle", 7, False)
    assert not request.options.HasField("top_k")


def test_async_client_from_file(tiny: Any, tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"y" * 1000)

    async def scenario() -> None:
        async with AsyncVideoSearchClient(tiny.target) as client:
            await client.index_file(video, "a", chunk_size=400)
            with pytest.raises(vc.DeadlineExceeded):
                tiny.servicer.delay_s = 1.0
                await client.stats(timeout=0.2)

    asyncio.run(scenario())
    assert [len(c.data) for c in tiny.servicer.uploads[0].chunks] == [400, 400, 200]
