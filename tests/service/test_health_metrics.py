"""Health service and Prometheus metrics of the real server (in-test backend; see
conftest): readiness drives SERVING/NOT_SERVING, /metrics shows per-RPC series."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import vidsearch_client as vc
from prometheus_client.parser import text_string_to_metric_families

from vidsearch import metrics
from vidsearch.contract.models import FRAME_ENCODER

SERVICE = "vidsearch.v1.VideoSearch"


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return check()


def _scrape(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(family: Any, sample_name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in family.samples
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_health_follows_backend_readiness(served: Any) -> None:
    assert served.client.health() == "SERVING"
    assert served.client.health(SERVICE) == "SERVING"
    served.backend.ready = False
    assert _eventually(lambda: served.client.health() == "NOT_SERVING")
    assert served.client.health(SERVICE) == "NOT_SERVING"
    served.backend.ready = True
    assert _eventually(lambda: served.client.health(SERVICE) == "SERVING")
    with pytest.raises(vc.NotFound):
        served.client.health("no.such.Service")


def test_health_is_not_serving_after_stop(served: Any) -> None:
    served.server.health.enter_graceful_shutdown()
    assert served.client.health() == "NOT_SERVING"


def test_metrics_show_rpc_histograms_and_counters_by_code(served: Any) -> None:
    before = _scrape(served.server.metrics_port)
    ok_before = _value(before["vidsearch_rpc"], "vidsearch_rpc_total", method="GetVideo", code="OK")
    served.client.index_file(b"abc" * 100, "m1", title="secret title")
    served.client.get("m1")
    with pytest.raises(vc.NotFound):
        served.client.get("missing-video-id")
    with pytest.raises(vc.InvalidArgument):
        served.client.get("")

    families = _scrape(served.server.metrics_port)
    rpc_total = families["vidsearch_rpc"]
    assert rpc_total.type == "counter"
    get_ok = _value(rpc_total, "vidsearch_rpc_total", method="GetVideo", code="OK")
    assert get_ok == ok_before + 1
    assert _value(rpc_total, "vidsearch_rpc_total", method="GetVideo", code="NOT_FOUND") >= 1
    assert _value(rpc_total, "vidsearch_rpc_total", method="GetVideo", code="INVALID_ARGUMENT") >= 1
    assert _value(rpc_total, "vidsearch_rpc_total", method="IndexVideo", code="OK") >= 1

    rpc_seconds = families["vidsearch_rpc_seconds"]
    assert rpc_seconds.type == "histogram"
    for method in ("IndexVideo", "GetVideo"):
        assert _value(rpc_seconds, "vidsearch_rpc_seconds_count", method=method) >= 1
        assert _value(rpc_seconds, "vidsearch_rpc_seconds_bucket", method=method, le="+Inf") >= 1
    inflight = families["vidsearch_inflight_requests"]
    assert _value(inflight, "vidsearch_inflight_requests", method="GetVideo") == 0

    # Gauges refreshed by the readiness poller from backend.stats().
    assert _eventually(
        lambda: _value(_scrape(served.server.metrics_port)["vidsearch_catalog_videos"],
                       "vidsearch_catalog_videos") == 1
    )  # fmt: skip
    info = families["vidsearch_model_info"]
    assert _value(info, "vidsearch_model_info", model=FRAME_ENCODER.name, version="1") == 1

    # No request content in any label.
    for family in families.values():
        for sample in family.samples:
            for value in sample.labels.values():
                assert value not in ("m1", "missing-video-id", "secret title")


def test_scrape_shows_process_gc_and_platform_collectors(served: Any) -> None:
    families = _scrape(served.server.metrics_port)
    for family, sample in [
        ("process_resident_memory_bytes", "process_resident_memory_bytes"),
        ("process_cpu_seconds", "process_cpu_seconds_total"),
        ("process_open_fds", "process_open_fds"),
    ]:
        assert _value(families[family], sample) > 0
    collections = families["python_gc_collections"]
    assert collections.type == "counter"
    assert {s.labels["generation"] for s in collections.samples} == {"0", "1", "2"}
    assert _value(families["python_info"], "python_info") == 1


def test_label_values_must_be_code_constants() -> None:
    assert metrics.check_label("search_keyframe") == "search_keyframe"
    with pytest.raises(ValueError, match="not a short identifier"):
        metrics.check_label("a video title with spaces")


def test_metrics_endpoint_stops_well_under_half_a_second() -> None:
    """A stop right after a scrape (socketserver's default loop waited out its 0.5 s poll;
    every server stop, in each test and each rollout, paid it)."""
    server, port = metrics.start_metrics_http("127.0.0.1", 0)
    assert "process_cpu_seconds" in _scrape(port)
    started = time.perf_counter()
    metrics.stop_metrics_http(server)
    assert time.perf_counter() - started < 0.2
    with pytest.raises(OSError):  # the port is closed, not just unanswered
        _scrape(port)
