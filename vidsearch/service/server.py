"""Assemble and run the gRPC server: servicer, health service, metrics endpoint.

Health follows the backend: a poller thread asks ``backend.is_ready()`` every few
seconds and flips the standard gRPC health status between SERVING and NOT_SERVING, so
load balancers and Kubernetes probes stop routing to a server whose models or catalog
are not up. It also refreshes the catalog and model gauges.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from vidsearch_client.v1 import vidsearch_pb2, vidsearch_pb2_grpc

from vidsearch import metrics
from vidsearch.config import ServerConfig, VidsearchConfig
from vidsearch.service.auth import AuthInterceptor, TokenStore
from vidsearch.service.playback import KeptUploads
from vidsearch.service.servicer import SearchBackend, VideoSearchServicer
from vidsearch.service.tls import server_credentials
from vidsearch.service.uploads import UploadLimits

log = logging.getLogger(__name__)

SERVICE_NAME = vidsearch_pb2.DESCRIPTOR.services_by_name["VideoSearch"].full_name
HEALTH_SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1", "[::1]")


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000)) if seconds > 0 else 0


def server_options(cfg: ServerConfig) -> list[tuple[str, int]]:
    """The gRPC channel arguments the API server is built with (``server.*``)."""
    options = [
        ("grpc.max_receive_message_length", cfg.max_message_bytes),
        ("grpc.max_send_message_length", cfg.max_message_bytes),
    ]
    age, grace = cfg.max_connection_age_s, cfg.max_connection_age_grace_s
    if age is not None:
        # GOAWAY after the age (gRPC adds +-10 % jitter, so pods started together do not
        # drop every connection at once); clients reconnect, re-resolve and spread again.
        options.append(("grpc.max_connection_age_ms", _ms(age)))
        if grace is not None:
            options.append(("grpc.max_connection_age_grace_ms", _ms(grace)))
    return options


@dataclass
class RunningServer:
    """A started server; call :meth:`stop` (or use as a context manager) to shut down."""

    server: grpc.Server
    host: str
    port: int
    health: health.HealthServicer
    metrics_server: WSGIServer | None = None
    metrics_port: int | None = None
    health_server: grpc.Server | None = None
    health_port: int | None = None
    options: tuple[tuple[str, int], ...] = ()  # the gRPC arguments the API server got
    _stopping: threading.Event = field(default_factory=threading.Event)
    _poller: threading.Thread | None = None

    @property
    def target(self) -> str:
        """``host:port`` a client can dial."""
        return _host_port(self.host, self.port)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server terminates; True if it did within ``timeout``."""
        return bool(self.server.wait_for_termination(timeout))

    def stop(self, grace: float | None = 5.0) -> None:
        """Report NOT_SERVING, let in-flight calls finish for ``grace`` seconds, then stop."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.health.enter_graceful_shutdown()
        if self._poller is not None:
            self._poller.join(timeout=5.0)
        self.server.stop(grace).wait()
        if self.health_server is not None:
            self.health_server.stop(None).wait()
        if self.metrics_server is not None:
            metrics.stop_metrics_http(self.metrics_server)
        log.info("server stopped", extra={"target": self.target})

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ReadinessPoller:
    """Drives health status and gauges from the backend; never raises."""

    def __init__(
        self, backend: SearchBackend, health_servicer: health.HealthServicer, stats_every: int
    ) -> None:
        self._backend = backend
        self._health = health_servicer
        self._stats_every = max(1, stats_every)
        self._polls = 0
        self._last: bool | None = None

    def poll(self) -> None:
        try:
            ready = bool(self._backend.is_ready())
        except Exception:
            log.exception("readiness check failed")
            ready = False
        status = _SERVING if ready else _NOT_SERVING
        for service in ("", SERVICE_NAME):
            self._health.set(service, status)
        if ready != self._last:
            log.info("backend %s", "ready" if ready else "not ready", extra={"ready": ready})
            self._last = ready
        if ready and self._polls % self._stats_every == 0:
            self._refresh_gauges()
        self._polls += 1

    def _refresh_gauges(self) -> None:
        try:
            stats = self._backend.stats()
            metrics.CATALOG_VIDEOS.set(stats.videos)
            metrics.CATALOG_KEYFRAMES.set(stats.keyframes)
            metrics.set_model_info(stats.model_name, stats.model_version, stats.inference_backend)
        except Exception as exc:  # gauges are best effort
            log.warning("could not refresh catalog/model gauges: %s", exc)

    def run(self, stopping: threading.Event, interval_s: float) -> None:
        while not stopping.wait(interval_s):
            self.poll()


def _enable_reflection(server: grpc.Server) -> bool:
    """Serve grpc.reflection.v1alpha, so grpcurl can list and call the API without .proto
    files. An environment installed before grpcio-reflection became a dependency still
    serves, without reflection, and says so."""
    try:
        from grpc_reflection.v1alpha import reflection
    except ImportError:
        log.warning("server reflection off: grpcio-reflection is not installed")
        return False
    names = (SERVICE_NAME, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    return True


def build_server(
    config: VidsearchConfig,
    backend: SearchBackend,
    *,
    with_metrics: bool = True,
    ready_poll_s: float = 2.0,
    stats_poll_s: float = 30.0,
    source_roots: Sequence[Path] | None = None,
) -> RunningServer:
    """Start serving ``backend`` on ``config.server.host:port`` (port 0 = a free port).

    ``source_roots`` limits which server directories ``source_uri`` may name (None: any
    file the process can read)."""
    cfg = config.server
    options = server_options(cfg)
    credentials = server_credentials(cfg)  # config mistakes fail before anything starts
    interceptors: list[grpc.ServerInterceptor] = []
    if cfg.auth_tokens_file is not None:
        store = TokenStore.load(cfg.auth_tokens_file)
        interceptors.append(AuthInterceptor(store))
        log.info("bearer-token authentication on", extra={"tokens": len(store)})
        if credentials is None and not _is_loopback(cfg.host):
            log.warning("bearer tokens travel in plaintext: set tls_cert_file/tls_key_file")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=cfg.max_workers, thread_name_prefix="grpc"),
        options=options,
        interceptors=interceptors,
    )
    limits = UploadLimits(
        upload_dir=cfg.upload_dir,
        max_bytes=config.media.max_upload_bytes,
        source_roots=source_roots if source_roots is not None else (cfg.source_uri_roots or None),
        allowed_containers=tuple(cfg.allowed_containers) or None,
    )
    playback = config.playback
    kept = KeptUploads(playback.kept_uploads_dir, playback.keep_uploads_s)
    kept.sweep()  # what expired while the server was down
    vidsearch_pb2_grpc.add_VideoSearchServicer_to_server(
        VideoSearchServicer(backend, limits, kept, playback.chunk_bytes,
                            audio_max_bytes=config.captions.max_audio_bytes), server
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflecting = cfg.reflection and _enable_reflection(server)
    address = _host_port(cfg.host, cfg.port)
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise RuntimeError(f"cannot listen on {_host_port(cfg.host, cfg.port)}")

    health_server: grpc.Server | None = None
    if cfg.health_port is not None:
        # Plaintext, health service only: kubelet's native gRPC probe cannot speak TLS, and
        # the health answer carries no data worth protecting.
        health_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        health_port = health_server.add_insecure_port(_host_port(cfg.host, cfg.health_port))
        if health_port == 0:
            raise RuntimeError(f"cannot listen on {_host_port(cfg.host, cfg.health_port)}")

    poller = _ReadinessPoller(backend, health_servicer, round(stats_poll_s / ready_poll_s))
    poller.poll()  # health is right from the first call
    running = RunningServer(
        server=server, host=cfg.host, port=port, health=health_servicer, options=tuple(options)
    )
    if health_server is not None:
        running.health_server, running.health_port = health_server, health_port
        health_server.start()
    try:
        if with_metrics:
            running.metrics_server, running.metrics_port = metrics.start_metrics_http(
                cfg.host, cfg.metrics_port
            )
        server.start()
    except BaseException:
        server.stop(None)
        raise
    running._poller = threading.Thread(
        target=poller.run, args=(running._stopping, ready_poll_s), name="readiness", daemon=True
    )
    running._poller.start()
    log.info(
        "serving",
        extra={
            "target": running.target,
            "metrics_port": running.metrics_port,
            "tls": "mutual" if cfg.tls_client_ca_file else bool(credentials),
            "auth": cfg.auth_tokens_file is not None,
            "reflection": reflecting,
        },
    )
    return running
