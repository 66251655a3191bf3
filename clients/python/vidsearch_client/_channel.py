"""Channel settings shared by the sync and async clients: target, TLS, token, limits."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Literal

import grpc

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
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
        ]
        if self.load_balancing is not None:
            # The service config is gRPC's documented way to choose the policy
            # (grpc.lb_policy_name is the older channel argument for the same thing).
            config: dict[str, Any] = {"loadBalancingConfig": [{self.load_balancing: {}}]}
            options.append(("grpc.service_config", json.dumps(config)))
        return options


def call_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Bearer token metadata sent with every call (empty without a token)."""
    return (("authorization", f"Bearer {token}"),) if token else ()
