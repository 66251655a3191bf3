"""Status codes the real server sends (in-test backend; see conftest): each domain
exception's mapping, request validation before the backend is called, and deadlines."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import vidsearch_client as vc
from vidsearch_client.v1 import vidsearch_pb2 as pb

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
from vidsearch.media.errors import SOURCE, CorruptMediaError
from vidsearch.orchestrator.api import InvalidRequestError, OverloadedError


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (InvalidRequestError("top_k too large for this mode"), vc.InvalidArgument),
        (VideoNotFoundError("video 'x' is not indexed"), vc.NotFound),
        (ModelNotFoundError("model version 9 is not served"), vc.NotFound),
        (BackendUnavailableError("triton is down"), vc.Unavailable),
        (CatalogUnavailableError("qdrant is down"), vc.Unavailable),
        (InferenceTimeoutError("inference took longer than 30s"), vc.DeadlineExceeded),
        (IncompatibleModelError("catalog holds version 1 codes"), vc.FailedPrecondition),
        (OverloadedError("4 searches are already running"), vc.ResourceExhausted),
        (DeadlineExceededError("the request's deadline passed before encode"), vc.DeadlineExceeded),
        (RequestCancelledError("the client cancelled the request before decode"), vc.Cancelled),
    ],
)
def test_domain_exceptions_map_to_status_codes(
    served: Any, exc: Exception, expected: type[vc.VidsearchError]
) -> None:
    served.backend.fail_with = exc
    with pytest.raises(expected) as caught:
        served.client.stats()
    assert caught.value.message == exc.args[0]  # the server's message reaches the caller
    assert caught.value.request_id


def test_media_errors_name_the_clients_video_not_the_servers_file(
    served: Any, tmp_path: Any
) -> None:
    served.backend.fail_with = CorruptMediaError(
        f"{SOURCE} is not a video file that can be read", "/srv/var/uploads/upload-1a2b.part"
    )
    with pytest.raises(vc.InvalidArgument) as caught:
        served.client.index_file(b"abc" * 10, "clip")
    assert caught.value.message == "the uploaded file is not a video file that can be read"
    with pytest.raises(vc.InvalidArgument) as caught:
        served.client.search_video(b"abc" * 10)
    assert caught.value.message == "the uploaded file is not a video file that can be read"
    (tmp_path / "clip.mp4").write_bytes(b"abc" * 10)
    uri = str(tmp_path / "clip.mp4")
    with pytest.raises(vc.InvalidArgument) as caught:
        served.client.search_uri(uri)
    assert caught.value.message == f"source_uri {uri!r} is not a video file that can be read"
    with pytest.raises(vc.InvalidArgument) as caught:  # no request video: still no path
        served.client.stats()
    assert caught.value.message == "the video is not a video file that can be read"


def test_unexpected_exception_is_internal_without_leaking(served: Any) -> None:
    served.backend.fail_with = RuntimeError("password=hunter2 in a stack trace")
    with pytest.raises(vc.Internal) as caught:
        served.client.search_video(b"abc")
    assert "hunter2" not in caught.value.message
    assert caught.value.request_id and caught.value.request_id in caught.value.message


def test_get_missing_video_is_not_found_and_delete_is_false(served: Any) -> None:
    with pytest.raises(vc.NotFound, match="not indexed"):
        served.client.get("nope")
    assert served.client.delete("nope") is False
    served.client.index_file(b"abc", "yes")
    assert served.client.get("yes").video_id == "yes"
    assert served.client.delete("yes") is True


def test_recommend_roundtrip_and_missing_seed(served: Any) -> None:
    for name in ("a", "b", "c"):
        served.client.index_file(name.encode() * 100, name)
    found = served.client.recommend("a", k=2)
    assert [n.video.video_id for n in found] == ["b", "c"]
    assert found[0].score == pytest.approx(0.9)
    assert served.backend.calls_to("recommend")[-1]["k"] == 2
    served.client.recommend("a", k=None)
    assert served.backend.calls_to("recommend")[-1]["k"] is None  # server default
    with pytest.raises(vc.NotFound):
        served.client.recommend("zzz")


@pytest.mark.parametrize(
    ("video_id", "needle"),
    [
        ("", "must not be empty"),
        ("x" * 257, "limit is 256"),
        ("bad\x07id", "control characters"),
        ("new\nline", "control characters"),
    ],
)
def test_invalid_ids_are_rejected_before_the_backend(
    served: Any, video_id: str, needle: str
) -> None:
    for call in (
        lambda: served.client.get(video_id),
        lambda: served.client.delete(video_id),
        lambda: served.client.recommend(video_id),
        lambda: served.client.index_file(b"abc", video_id),
    ):
        with pytest.raises(vc.InvalidArgument, match=needle):
            call()
    assert [name for name, _ in served.backend.calls if name != "stats"] == []


def test_longest_allowed_id_and_unicode_are_fine(served: Any) -> None:
    served.client.index_file(b"abc", "é" * 256)
    assert served.client.get("é" * 256).video_id == "é" * 256


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top_k": 0},
        {"top_k": 1001},
        {"max_hamming": 129},
        {"coarse_limit": 0},
        {"max_texture_distance": -1.0},
        {"min_repetition": 1.5},
        {"model_version": 0},
    ],
)
def test_search_options_out_of_range(served: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(vc.InvalidArgument, match=next(iter(kwargs))):
        served.client.search_video(b"abc", **kwargs)
    assert served.backend.calls_to("search_by_video") == []


def test_recommend_k_out_of_range(served: Any) -> None:
    for k in (0, 101):
        with pytest.raises(vc.InvalidArgument, match="k must be between 1 and 100"):
            served.client.recommend("a", k=k)


def test_unknown_search_mode(raw_stub: Any) -> None:
    header = pb.SearchByVideoHeader(options=pb.SearchOptions(mode=7))
    requests = [
        pb.SearchByVideoRequest(header=header),
        pb.SearchByVideoRequest(chunk=pb.Chunk(sequence=0, data=b"a")),
    ]
    with pytest.raises(grpc.RpcError) as caught:
        raw_stub.SearchByVideo(iter(requests), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown search mode" in caught.value.details()


def test_title_and_tags_are_validated(served: Any) -> None:
    with pytest.raises(vc.InvalidArgument, match="title"):
        served.client.index_file(b"abc", "v", title="a\x00b")
    with pytest.raises(vc.InvalidArgument, match="tag"):
        served.client.index_file(b"abc", "v", tags=["ok", ""])
    with pytest.raises(vc.InvalidArgument, match="at most 64 tags"):
        served.client.index_file(b"abc", "v", tags=[f"t{i}" for i in range(65)])


def test_client_deadline_is_enforced(served: Any) -> None:
    served.backend.search_delay_s = 1.0
    with pytest.raises(vc.DeadlineExceeded):
        served.client.search_video(b"abc", timeout=0.3)
    (call,) = served.backend.calls_to("search_by_video")
    assert 0 < call["timeout_s"] <= 0.5  # the remaining time is handed to the backend


def test_client_request_id_is_echoed(served: Any) -> None:
    channel = grpc.insecure_channel(served.server.target)
    try:
        call = channel.unary_unary(
            "/vidsearch.v1.VideoSearch/GetVideo",
            request_serializer=pb.GetVideoRequest.SerializeToString,
            response_deserializer=pb.GetVideoResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            call(pb.GetVideoRequest(video_id="x"), metadata=(("x-request-id", "trace-42"),))
        assert ("x-request-id", "trace-42") in tuple(caught.value.trailing_metadata())
    finally:
        channel.close()
