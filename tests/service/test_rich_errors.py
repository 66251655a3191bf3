"""google.rpc.Status details the real server sends (in-test backend; see conftest), read
both raw (grpcio-status, as any gRPC client in any language would) and through the SDK:
ErrorInfo on every error, BadRequest naming the field, RetryInfo when retrying helps."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import vidsearch_client as vc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vidsearch_client.v1 import vidsearch_pb2 as pb

import vidsearch
from vidsearch.catalog.base import CatalogUnavailableError, VideoNotFoundError
from vidsearch.orchestrator.api import OverloadedError


def _details(error: grpc.RpcError) -> dict[str, Any]:
    """The error's details by type, unpacked with grpcio-status (no SDK involved)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no grpc-status-details-bin in the trailing metadata"
    found: dict[str, Any] = {}
    for packed in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest,
                     error_details_pb2.RetryInfo):
            message = kind()
            if packed.Unpack(message):
                found[kind.__name__] = message
    return found


def test_invalid_top_k_names_the_field_in_a_bad_request(raw_stub: Any, served: Any) -> None:
    request = pb.SearchByTextRequest(text="a red circle",
                                     options=pb.TextSearchOptions(top_k=0))
    with pytest.raises(grpc.RpcError) as caught:
        raw_stub.SearchByText(request, timeout=10, metadata=(("x-request-id", "rq-1"),))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = _details(caught.value)
    (violation,) = details["BadRequest"].field_violations
    assert violation.field == "top_k" and "between 1 and 1000" in violation.description
    info = details["ErrorInfo"]
    assert (info.reason, info.domain, info.metadata["request_id"]) == (
        "INVALID_ARGUMENT", "vidsearch", "rq-1")
    assert "RetryInfo" not in details  # the same request will fail again
    assert ("x-request-id", "rq-1") in tuple(caught.value.trailing_metadata())

    with pytest.raises(vc.InvalidArgument) as sdk:  # the SDK reads the same
        served.client.search_video(b"abc", top_k=5000)
    assert [v.field for v in sdk.value.field_violations] == ["top_k"]
    assert sdk.value.reason == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.get("bad\x07id"), "video_id"),
        (lambda c: c.index_file(b"abc", "v", title="a\x00b"), "title"),
        (lambda c: c.index_file(b"abc", "v", tags=["ok", ""]), "tags[1]"),
        (lambda c: c.recommend("a", k=0), "k"),
        (lambda c: c.search_video(b"abc", min_repetition=2.0), "min_repetition"),
        (lambda c: c.search_video(b"abc", filter=vc.VideoFilter(title_prefix="x" * 65)),
         "filter.title_prefix"),
        (lambda c: c.search_text("a cat", filter=vc.VideoFilter(video_ids=("ok", ""))),
         "filter.video_ids[1]"),
        (lambda c: c.update_video("v", title="a\nb"), "video.title"),
    ],
)
def test_field_violations_name_the_field(served: Any, call: Any, field: str) -> None:
    with pytest.raises(vc.InvalidArgument) as caught:
        call(served.client)
    assert [v.field for v in caught.value.field_violations] == [field]


def test_update_video_needs_a_mask(raw_stub: Any) -> None:
    request = pb.UpdateVideoRequest(video=pb.VideoInfo(video_id="v", title="new"))
    for paths in ([], ["title", "duration_s"]):
        request.update_mask.paths[:] = paths
        with pytest.raises(grpc.RpcError) as caught:
            raw_stub.UpdateVideo(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        (violation,) = _details(caught.value)["BadRequest"].field_violations
        assert violation.field == "update_mask"


@pytest.mark.parametrize(
    ("exc", "expected", "reason"),
    [
        (OverloadedError("4 searches are already running"), vc.ResourceExhausted, "OVERLOADED"),
        (CatalogUnavailableError("qdrant is down"), vc.Unavailable, "CATALOG_UNAVAILABLE"),
    ],
)
def test_retry_info_on_shed_load_and_unavailable(
    served: Any, exc: Exception, expected: type[vc.VidsearchError], reason: str
) -> None:
    served.backend.fail_with = exc
    with pytest.raises(expected) as caught:
        served.client.stats()
    assert caught.value.reason == reason and caught.value.details.domain == "vidsearch"
    assert caught.value.retry_delay_s == pytest.approx(1.0)


def test_not_found_has_its_reason_and_no_retry(served: Any) -> None:
    served.backend.fail_with = VideoNotFoundError("video 'x' is not indexed")
    with pytest.raises(vc.NotFound) as caught:
        served.client.recommend("x")
    assert caught.value.reason == "VIDEO_NOT_FOUND" and caught.value.retry_delay_s is None
    assert caught.value.details.metadata["request_id"] == caught.value.request_id


def test_internal_errors_carry_details_without_leaking(served: Any) -> None:
    served.backend.fail_with = RuntimeError("password=hunter2")
    with pytest.raises(vc.Internal) as caught:
        served.client.stats()
    assert caught.value.reason == "INTERNAL" and "hunter2" not in str(caught.value.details)


def test_stats_reports_the_server_version(served: Any) -> None:
    assert served.client.stats().server_version == vidsearch.__version__
