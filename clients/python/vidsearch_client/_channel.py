"""Channel settings shared by the sync and async clients: target, TLS, token, limits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import grpc

TARGET_ENV = "VIDSEARCH_TARGET"
TOKEN_ENV = "VIDSEARCH_TOKEN"
DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT_S = 60.0
# Search responses with many hits and segments can exceed gRPC's 4 MiB receive default.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


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
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
        ]


def call_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Bearer token metadata sent with every call (empty without a token)."""
    return (("authorization", f"Bearer {token}"),) if token else ()
