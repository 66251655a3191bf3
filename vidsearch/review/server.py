"""Run the review page with uvicorn: in a thread beside `vidsearch serve` (``make run``),
or on its own (`vidsearch review`) against any vidsearch server."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from vidsearch.config import VidsearchConfig
from vidsearch.review.app import ReviewSettings, create_app


@dataclass
class RunningReview:
    """A started review page; :meth:`stop` shuts it down (its clips are removed)."""

    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)


def settings_for(config: VidsearchConfig, target: str) -> ReviewSettings:
    """The page in front of a server run with ``config``: the same upload limit and, for
    TLS, its certificate as the root (a page cannot present a client certificate)."""
    server = config.server
    if server.tls_client_ca_file is not None:
        raise ValueError("the review page cannot call a server that requires client "
                         "certificates (server.tls_client_ca_file); run it with "
                         "`vidsearch review --ca-cert` against another listener")
    credentials = None
    if server.tls_cert_file is not None:
        import grpc

        credentials = grpc.ssl_channel_credentials(server.tls_cert_file.read_bytes())
    return ReviewSettings(target=target, max_upload_bytes=config.media.max_upload_bytes,
                          credentials=credentials)


def start_review(
    settings: ReviewSettings, host: str = "127.0.0.1", port: int = 8765, wait_s: float = 20.0
) -> RunningReview:
    """Serve the page in a daemon thread; returns once it accepts connections."""
    import uvicorn

    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning",
                            lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="review-page", daemon=True)
    thread.start()
    deadline = time.monotonic() + wait_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the review page could not listen on {host}:{port} "
                               "(is the port taken? choose another with --review-port)")
        time.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return RunningReview(host=host, port=int(bound), _server=server, _thread=thread)
