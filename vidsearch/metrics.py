"""Prometheus metrics of a vidsearch server, on a registry of its own.

A private registry keeps tests and embedding processes free of the global registry's
duplicate-name errors; it holds the process, GC and platform collectors the global one
has (memory, CPU, open files, GC pauses, Python version). Label values are code
constants only (pipeline, stage, RPC method, status code, model name/version/backend):
never request content such as video ids, titles or URIs, which would explode
cardinality and leak data.
"""

from __future__ import annotations

import re
import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
)
from prometheus_client.exposition import ThreadingWSGIServer

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# 1 ms .. 5 min: decode and inference of long videos take minutes, catalog hits milliseconds.
_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip

STAGE_SECONDS = Histogram(
    "vidsearch_stage_seconds",
    "Wall time of one stage of a pipeline: index, search_texture (near-duplicate search), "
    "search_duration (duration matching), search_keyframe (key-frame matching), "
    "search_text (text search), recommend, suggest_tags and upsert_tags (tag suggestions), "
    "backfill (`vidsearch backfill`: hash, decode, encode stages, catalog_upsert).",
    labelnames=("pipeline", "stage"),
    buckets=_BUCKETS,
    registry=REGISTRY,
)
RPC_SECONDS = Histogram(
    "vidsearch_rpc_seconds",
    "Server-side wall time of one gRPC call, upload included.",
    labelnames=("method",),
    buckets=_BUCKETS,
    registry=REGISTRY,
)
RPC_TOTAL = Counter(
    "vidsearch_rpc",
    "gRPC calls finished, by method and status code.",
    labelnames=("method", "code"),
    registry=REGISTRY,
)
CATALOG_VIDEOS = Gauge("vidsearch_catalog_videos", "Videos in the catalog.", registry=REGISTRY)
CATALOG_KEYFRAMES = Gauge(
    "vidsearch_catalog_keyframes", "Key frames in the catalog.", registry=REGISTRY
)
MODEL_INFO = Gauge(
    "vidsearch_model_info",
    "The model serving requests (value 1; the labels carry the information).",
    labelnames=("model", "version", "backend"),
    registry=REGISTRY,
)
INFLIGHT = Gauge(
    "vidsearch_inflight_requests",
    "gRPC calls being served now.",
    labelnames=("method",),
    registry=REGISTRY,
)

STAGE_IN_FLIGHT = Gauge(
    "vidsearch_stage_in_flight",
    "Requests holding a slot of a limited stage (decode, encode, catalog) now.",
    labelnames=("stage",),
    registry=REGISTRY,
)
STAGE_QUEUED = Gauge(
    "vidsearch_stage_queued",
    "Requests waiting for a slot of a limited stage now.",
    labelnames=("stage",),
    registry=REGISTRY,
)
STAGE_REJECTED = Counter(
    "vidsearch_stage_rejected",
    "Requests turned away by a stage limit (RESOURCE_EXHAUSTED): queue full or wait too long.",
    labelnames=("stage", "reason"),
    registry=REGISTRY,
)
REQUESTS_STOPPED = Counter(
    "vidsearch_requests_stopped",
    "Requests whose work stopped early because the caller cancelled or its deadline passed.",
    labelnames=("stage", "reason"),
    registry=REGISTRY,
)
INFERENCE_FALLBACK = Counter(
    "vidsearch_inference_fallback",
    "Inference calls served by the embedded fallback backend because the primary was down.",
    labelnames=("model",),
    registry=REGISTRY,
)
INFERENCE_FALLBACK_ACTIVE = Gauge(
    "vidsearch_inference_fallback_active",
    "1 while the primary inference backend is considered down and the fallback serves.",
    registry=REGISTRY,
)

BACKFILL_VIDEOS = Counter(
    "vidsearch_backfill_videos",
    "Videos a backfill (`vidsearch backfill`) finished, by outcome: indexed, skipped (already "
    "indexed with the current model version) or failed (in its failure report).",
    labelnames=("outcome",),
    registry=REGISTRY,
)
BACKFILL_RETRIES = Counter(
    "vidsearch_backfill_retries",
    "Item-level retries of a backfill (a stage of one video tried again after a transient error).",
    registry=REGISTRY,
)

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def check_label(value: str) -> str:
    """Reject anything that does not look like a code constant (guards against content)."""
    if not _LABEL_VALUE.match(value):
        raise ValueError(f"metric label value {value!r} is not a short identifier")
    return value


def set_model_info(model: str, version: int, backend: str) -> None:
    """Expose the serving model; the previous label set is dropped so only one shows."""
    MODEL_INFO.clear()
    MODEL_INFO.labels(
        model=check_label(model), version=str(int(version)), backend=check_label(backend)
    ).set(1)


# How often the serving loop looks for a shutdown request, so the longest a stop waits.
# prometheus_client's start_http_server keeps socketserver's 0.5 s: every server stop
# (each test's, each rollout's) waited that long.
METRICS_POLL_S = 0.02


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
        pass


def start_metrics_http(host: str, port: int) -> tuple[WSGIServer, int]:
    """Serve :data:`REGISTRY` with prometheus_client's WSGI app and threading server, as its
    ``start_http_server`` does, in a daemon thread that stops promptly (``stop_metrics_http``);
    port 0 picks a free port."""
    host = host.strip("[]")

    class MetricsServer(ThreadingWSGIServer):  # IPv4 or IPv6, as the host says
        address_family = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0][0]

    server = make_server(host, port, make_wsgi_app(REGISTRY), MetricsServer, _QuietHandler)
    threading.Thread(target=server.serve_forever, args=(METRICS_POLL_S,), daemon=True,
                     name="metrics-http").start()  # fmt: skip
    return server, int(server.server_port)


def stop_metrics_http(server: WSGIServer) -> None:
    """Stop serving (within ``METRICS_POLL_S``) and close the listening socket."""
    server.shutdown()
    server.server_close()
