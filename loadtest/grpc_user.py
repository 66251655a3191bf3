"""A locust User that calls vidsearch over gRPC and reports one request event per RPC.

Locust's HTTP users do not speak gRPC; this one drives the Python SDK
(``vidsearch_client.VideoSearchClient``) and fires ``events.request`` itself, with
``request_type="grpc"`` and the RPC name (``SearchByVideo``, ``IndexVideo``) as the name,
so the statistics, CSV files and failure table are per RPC.

Against a server with auth and TLS (the Kubernetes overlays): the bearer token comes from
``$VIDSEARCH_TOKEN`` (in a cluster, an env ``valueFrom`` a Secret, never a literal), TLS
from ``LOADTEST_CA_CERT`` (PEM roots) or ``LOADTEST_TLS=1`` (system roots).

grpcio blocks in C; under locust's gevent loop that would freeze every other user, so
:func:`init_gevent` switches grpcio to gevent-friendly polling (must run before the first
channel is created; importing this module does it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from connection import client_options
from locust import User
from locust.exception import LocustError

T = TypeVar("T")
_gevent_ready = False


def init_gevent() -> None:
    global _gevent_ready
    if not _gevent_ready:
        from grpc.experimental import gevent as grpc_gevent

        grpc_gevent.init_gevent()
        _gevent_ready = True


init_gevent()


class GrpcUser(User):
    """Abstract: subclasses call :meth:`call` with an RPC name and a callable."""

    abstract = True
    client_timeout_s: float = 120.0

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if not self.host:
            raise LocustError("give the server as --host HOST:PORT (no scheme)")
        from vidsearch_client import RetryPolicy, VideoSearchClient

        target = self.host.removeprefix("grpc://").removeprefix("http://")
        # No client retries: a load test must see every failure, not hide it.
        self.client = VideoSearchClient(
            target,
            timeout=self.client_timeout_s,
            retry=RetryPolicy(max_attempts=1),
            **client_options(),
        )

    def call(
        self, name: str, fn: Callable[[], T], size: Callable[[T], int] = lambda _: 0
    ) -> T | None:
        """Run ``fn``, report it as ``name``; errors become locust failures (not raised)."""
        start = time.perf_counter()
        result: T | None = None
        exception: BaseException | None = None
        try:
            result = fn()
        except Exception as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=(time.perf_counter() - start) * 1000.0,
            response_length=size(result) if result is not None else 0,
            exception=exception,
            context={},
        )
        return result

    def on_stop(self) -> None:
        self.client.close()
