"""Fixtures for access-control tests: a throwaway PKI made with ``cryptography`` (a CA, a
server certificate for localhost/127.0.0.1, a client certificate, and an unrelated CA
with its own client), a tokens file, and the real server over a tiny in-test backend."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vidsearch.catalog.base import VideoInfo
from vidsearch.config import VidsearchConfig
from vidsearch.contract.models import FRAME_ENCODER
from vidsearch.orchestrator.api import IndexResult, SearchOptions, SearchResult, ServiceStats
from vidsearch.service.auth import token_digest
from vidsearch.service.server import RunningServer, build_server

TOKENS = {
    "search": "s3arch-t0ken-f0r-tests-only",
    "index": "ind3x-t0ken-f0r-tests-only",
    "admin": "adm1n-t0ken-f0r-tests-only",
    "expired": "exp1red-t0ken-f0r-tests-only",
}


@dataclass(frozen=True)
class Issued:
    key_pem: bytes
    cert_pem: bytes
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _issue(name: str, issuer: Issued | None, *, ca: bool = False, server: bool = False) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    if not ca:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Issued(key_pem, cert.public_bytes(serialization.Encoding.PEM), key, cert)


@dataclass(frozen=True)
class Pki:
    dir: Path
    ca: Issued
    server: Issued
    client: Issued
    rogue_ca: Issued
    rogue_client: Issued

    def write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = _issue("vidsearch test CA", None, ca=True)
    rogue = _issue("someone else's CA", None, ca=True)
    return Pki(
        dir=tmp_path_factory.mktemp("pki"),
        ca=ca,
        server=_issue("localhost", ca, server=True),
        client=_issue("client", ca),
        rogue_ca=rogue,
        rogue_client=_issue("client", rogue),
    )


class TinyBackend:
    """Enough of a SearchBackend to tell "the call got through" from "it was refused"."""

    def index_video(self, path: Path, **kwargs: Any) -> IndexResult:
        return IndexResult(VideoInfo(kwargs["video_id"], 1.0, 1, 1), replaced=False)

    def delete_video(self, video_id: str) -> bool:
        return False

    def get_video(self, video_id: str) -> VideoInfo | None:
        return VideoInfo(video_id, 1.0, 1, 1)

    def search_by_video(self, path: Path, options: SearchOptions, **_: Any) -> SearchResult:
        return SearchResult(hits=(), query_duration_s=1.0, model_version=1, mode="duration")

    def recommend(self, video_id: str, k: int | None) -> list[tuple[VideoInfo, float]]:
        return []

    def stats(self) -> ServiceStats:
        return ServiceStats(0, 0, FRAME_ENCODER.name, 1, "tiny", "memory")

    def is_ready(self) -> bool:
        return True


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    entries = {
        token_digest(TOKENS["search"]): {"scopes": ["search"], "name": "searcher"},
        token_digest(TOKENS["index"]): {"scopes": ["index"], "expires": future},
        token_digest(TOKENS["admin"]): {"scopes": ["admin"]},
        token_digest(TOKENS["expired"]): {"scopes": ["admin"], "expires": past},
    }
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tokens": entries}))
    return path


ServerFactory = Callable[..., RunningServer]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start the real server with the given ServerConfig fields; stopped after the test."""
    started: list[RunningServer] = []

    def start(**server_fields: Any) -> RunningServer:
        config = VidsearchConfig()
        config.server.port = 0
        config.server.upload_dir = tmp_path / "uploads"
        config.server.allowed_containers = []  # the backend does not decode
        for name, value in server_fields.items():
            setattr(config.server, name, value)
        running = build_server(config, TinyBackend(), with_metrics=False, ready_poll_s=0.05)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop(grace=None)
