"""TLS and mutual TLS for the gRPC listener, from PEM files named in ServerConfig.

Off by default (the localhost default serves plaintext on 127.0.0.1). With
``tls_cert_file`` + ``tls_key_file`` the port speaks TLS only; adding
``tls_client_ca_file`` requires every client to present a certificate signed by that CA
(mutual TLS), so a stolen token alone is not enough from outside the mesh.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from vidsearch.config import ServerConfig


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    if b"-----BEGIN " not in data:
        raise ValueError(f"the {what} {path} is not PEM-encoded")
    return data


def server_credentials(cfg: ServerConfig) -> grpc.ServerCredentials | None:
    """Credentials for ``add_secure_port``; None for a plaintext listener."""
    if cfg.tls_cert_file is None and cfg.tls_key_file is None:
        if cfg.tls_client_ca_file is not None:
            raise ValueError("tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file")
        return None
    if cfg.tls_cert_file is None or cfg.tls_key_file is None:
        raise ValueError("TLS needs both tls_cert_file and tls_key_file")
    pair = (_read(cfg.tls_key_file, "TLS key"), _read(cfg.tls_cert_file, "TLS certificate"))
    if cfg.tls_client_ca_file is None:
        return grpc.ssl_server_credentials([pair])
    client_ca = _read(cfg.tls_client_ca_file, "client CA bundle")
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=True
    )
