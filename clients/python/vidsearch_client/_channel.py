"""Channel settings shared by the sync and async clients: target, TLS, token, limits,
keepalive, user agent and any further gRPC channel arguments."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import grpc

from vidsearch_client._version import VERSION

TARGET_ENV = "VIDSEARCH_TARGET"
TOKEN_ENV = "VIDSEARCH_TOKEN"
DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT_S = 60.0
# Search responses with many hits and segments can exceed gRPC's 4 MiB receive default.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# gRPC client-side load-balancing policies: pick_first (gRPC's default) keeps one
# connection to the first address that answers; round_robin connects to every address the
# target resolves to and spreads calls over them. For a Kubernetes headless Service:
# target "dns:///orchestrator-headless.vidsearch.svc.cluster.local:50051".
LoadBalancing = Literal["pick_first", "round_robin"]
LOAD_BALANCING_POLICIES: tuple[LoadBalancing, ...] = ("pick_first", "round_robin")


USER_AGENT = f"vidsearch-client/{VERSION}"
Metadata = Sequence[tuple[str, str]]
ChannelOption = tuple[str, Any]


@dataclass(frozen=True)
class Keepalive:
    """HTTP/2 keepalive pings, so a connection a load balancer or NAT dropped in silence
    is noticed within ``time_s + timeout_s`` instead of at the next call's deadline.
    Servers refuse pings more often than they allow (gRPC's default: every 5 minutes
    without calls), so ``permit_without_calls`` needs a server configured for it."""

    time_s: float = 60.0  # ping after this long without activity
    timeout_s: float = 20.0  # the connection is dead when a ping is unanswered this long
    permit_without_calls: bool = False  # ping even with no call in flight

    def __post_init__(self) -> None:
        if self.time_s <= 0 or self.timeout_s <= 0:
            raise ValueError("keepalive time_s and timeout_s must be positive")

    def options(self) -> list[ChannelOption]:
        return [
            ("grpc.keepalive_time_ms", int(self.time_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.timeout_s * 1000)),
            ("grpc.keepalive_permit_without_calls", int(self.permit_without_calls)),
        ]


def default_target() -> str:
    return os.environ.get(TARGET_ENV) or DEFAULT_TARGET


@dataclass(frozen=True)
class ChannelSettings:
    """How to reach the server; ``credentials`` wins over the TLS file fields."""

    target: str
    secure: bool = False
    root_certificates: bytes | None = None
    private_key: bytes | None = None
    certificate_chain: bytes | None = None
    credentials: grpc.ChannelCredentials | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    load_balancing: LoadBalancing | None = None
    keepalive: Keepalive | None = None
    user_agent: str | None = None  # the application's product token, before the SDK's
    channel_options: Sequence[ChannelOption] = ()  # further gRPC channel arguments (last wins)

    def __post_init__(self) -> None:
        if self.load_balancing is not None and self.load_balancing not in LOAD_BALANCING_POLICIES:
            raise ValueError(
                f"load_balancing must be one of {LOAD_BALANCING_POLICIES}, "
                f"got {self.load_balancing!r}"
            )

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """None for a plaintext channel."""
        if self.credentials is not None:
            return self.credentials
        if not (self.secure or self.root_certificates or self.certificate_chain):
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_certificates,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )

    def options(self) -> list[tuple[str, Any]]:
        agent = f"{self.user_agent} {USER_AGENT}" if self.user_agent else USER_AGENT
        options: list[ChannelOption] = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.primary_user_agent", agent),
        ]
        if self.keepalive is not None:
            options += self.keepalive.options()
        if self.load_balancing is not None:
            # The service config is gRPC's documented way to choose the policy
            # (grpc.lb_policy_name is the older channel argument for the same thing).
            config: dict[str, Any] = {"loadBalancingConfig": [{self.load_balancing: {}}]}
            options.append(("grpc.service_config", json.dumps(config)))
        return options + list(self.channel_options)


REQUEST_ID_KEY = "x-request-id"


def call_metadata(token: str | None, metadata: Metadata = ()) -> tuple[tuple[str, str], ...]:
    """What every call sends: the bearer token (if any), then the client's metadata."""
    bearer = (("authorization", f"Bearer {token}"),) if token else ()
    return (*bearer, *((str(k), str(v)) for k, v in metadata))


def per_call_metadata(
    base: tuple[tuple[str, str], ...], request_id: str | None, metadata: Metadata
) -> tuple[tuple[str, str], ...]:
    """One call's metadata: the client's, the call's own, and its request id (the server
    echoes it in its logs and in the answer's ``x-request-id``)."""
    extra = tuple((str(k), str(v)) for k, v in metadata)
    return (*base, *extra, *(((REQUEST_ID_KEY, request_id),) if request_id else ()))
