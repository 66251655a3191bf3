"""Connections that age out and clients that spread calls: how gRPC traffic reaches every
orchestrator pod (k8s/README.md, "gRPC load balancing").

Real servers on loopback (the in-test backend of conftest) and real gRPC channels:
``server.max_connection_age_s`` makes the server send GOAWAY and close the connection,
which the client sees as a connectivity change and survives by reconnecting; the SDK's
``load_balancing="round_robin"`` sends calls to every address its target resolves to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import vidsearch_client as vc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import ValidationError

from vidsearch.config import ServerConfig, VidsearchConfig
from vidsearch.service.server import RunningServer, build_server, server_options


def _config(tmp_path: Path, **server: Any) -> VidsearchConfig:
    return VidsearchConfig(
        server={
            "host": "127.0.0.1",
            "port": 0,
            "max_workers": 4,
            "upload_dir": str(tmp_path / "uploads"),
            **server,
        }
    )


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start real servers over a backend; all are stopped at the end."""
    started: list[RunningServer] = []

    def _start(backend: Any, **server: Any) -> RunningServer:
        running = build_server(
            _config(tmp_path, **server), backend, with_metrics=False, ready_poll_s=0.05
        )
        started.append(running)
        return running

    yield _start
    for running in started:
        running.stop(grace=None)


def test_server_options_carry_the_connection_age(tmp_path: Path) -> None:
    cfg = _config(tmp_path, max_connection_age_s=300, max_connection_age_grace_s=180).server
    assert ("grpc.max_connection_age_ms", 300_000) in server_options(cfg)
    assert ("grpc.max_connection_age_grace_ms", 180_000) in server_options(cfg)
    plain = dict(server_options(_config(tmp_path).server))
    assert "grpc.max_connection_age_ms" not in plain
    assert plain["grpc.max_receive_message_length"] == cfg.max_message_bytes
    with pytest.raises(ValidationError, match=r"needs server\.max_connection_age_s"):
        ServerConfig(max_connection_age_grace_s=10)


def test_built_server_has_the_options(start: Callable[..., RunningServer], backend: Any) -> None:
    running = start(backend, max_connection_age_s=0.5, max_connection_age_grace_s=0.25)
    assert ("grpc.max_connection_age_ms", 500) in running.options
    assert ("grpc.max_connection_age_grace_ms", 250) in running.options


def _watch(channel: grpc.Channel) -> tuple[list[grpc.ChannelConnectivity], threading.Event]:
    """Every connectivity state the channel reports; the event is set when it leaves READY."""
    states: list[grpc.ChannelConnectivity] = []
    left_ready = threading.Event()

    def seen(state: grpc.ChannelConnectivity) -> None:
        if states and states[-1] == grpc.ChannelConnectivity.READY and state != states[-1]:
            left_ready.set()
        states.append(state)

    channel.subscribe(seen, try_to_connect=True)
    return states, left_ready


def _check(channel: grpc.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status)


def test_server_closes_a_connection_after_its_max_age_and_the_client_reconnects(
    start: Callable[..., RunningServer], backend: Any
) -> None:
    running = start(backend, max_connection_age_s=0.5, max_connection_age_grace_s=0.2)
    with grpc.insecure_channel(running.target) as channel:
        states, left_ready = _watch(channel)
        assert _check(channel) == health_pb2.HealthCheckResponse.SERVING
        opened = time.monotonic()
        # GOAWAY after 0.5 s (+-10 % jitter): the connection goes, the channel leaves READY.
        assert left_ready.wait(timeout=10), f"still connected after 10 s: {states}"
        assert time.monotonic() - opened < 5
        # The next call opens a new connection to the same server.
        assert _check(channel) == health_pb2.HealthCheckResponse.SERVING
        assert _ready_again(states), states


def _ready_again(states: list[grpc.ChannelConnectivity]) -> bool:
    """READY a second time (the callback may trail the call that reconnected)."""
    deadline = time.monotonic() + 5
    while states.count(grpc.ChannelConnectivity.READY) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    return states.count(grpc.ChannelConnectivity.READY) >= 2


def test_without_a_max_age_the_connection_stays(
    start: Callable[..., RunningServer], backend: Any
) -> None:
    running = start(backend)
    with grpc.insecure_channel(running.target) as channel:
        states, left_ready = _watch(channel)
        assert _check(channel) == health_pb2.HealthCheckResponse.SERVING
        assert not left_ready.wait(timeout=1.5), states


def _spread(start: Callable[..., RunningServer], backend: Any, **client: Any) -> tuple[int, int]:
    """Calls seen by each of two servers when one client sends 20 calls to both."""
    first, second = backend, type(backend)()
    targets = [start(b).port for b in (first, second)]
    target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in targets)
    retry = vc.RetryPolicy(max_attempts=1)
    with vc.VideoSearchClient(target, timeout=10, retry=retry, **client) as sdk:
        for i in range(20):
            with pytest.raises(vc.NotFound):
                sdk.get(f"missing-{i}")
    return len(first.calls_to("get_video")), len(second.calls_to("get_video"))


def test_round_robin_client_spreads_calls_over_every_server(
    start: Callable[..., RunningServer], backend: Any
) -> None:
    one, two = _spread(start, backend, load_balancing="round_robin")
    assert one + two == 20 and one >= 5 and two >= 5, (one, two)


def test_default_client_pins_one_server(start: Callable[..., RunningServer], backend: Any) -> None:
    """What round_robin fixes: gRPC's default pick_first sends every call to one server."""
    assert sorted(_spread(start, backend)) == [0, 20]


def test_load_balancing_option_is_checked() -> None:
    with pytest.raises(ValueError, match="load_balancing must be one of"):
        vc.VideoSearchClient("127.0.0.1:1", load_balancing="random")
