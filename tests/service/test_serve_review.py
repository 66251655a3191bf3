"""`vidsearch serve --review-port` starts the review page beside the server, as a client
of it, prints its URL, applies the server's upload limit and stops with the server."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import httpx

from tests.service.test_serve_cli import restore_process_state  # noqa: F401 (fixture)
from vidsearch.review import server as review_server
from vidsearch.service import cli as serve_cli


def test_serve_starts_the_review_page(
    tmp_path: Path, monkeypatch: Any, capsys: Any, restore_process_state: Any,  # noqa: F811
    backend: Any,
) -> None:
    factory = types.ModuleType("vidsearch.orchestrator.factory")
    factory.build_orchestrator = lambda config: backend  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vidsearch.orchestrator.factory", factory)
    started: list[Any] = []
    real_start = review_server.start_review

    def start(*args: Any, **kwargs: Any) -> Any:
        started.append(real_start(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(review_server, "start_review", start)
    config = tmp_path / "vidsearch.yaml"
    config.write_text(f"server:\n  port: 0\n  metrics_port: 0\n  upload_dir: {tmp_path}\n"
                      "media:\n  max_upload_bytes: 5000\n")
    answers: list[Any] = []

    def probe_then_stop() -> None:
        deadline = time.monotonic() + 20
        while not started and time.monotonic() < deadline:
            time.sleep(0.05)
        if started:
            url = started[0].url
            answers.append(httpx.get(url, timeout=10).text)
            answers.append(httpx.get(f"{url}api/stats", timeout=10).json())
            answers.append(httpx.post(f"{url}api/search/upload", content=bytes(6000),
                                      timeout=10).json())
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=probe_then_stop, daemon=True).start()
    parser = serve_cli.argparse.ArgumentParser()
    serve_cli.register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--config", str(config), "--grace", "0",
                              "--review-port", "0"])
    assert args.func(args) == 0

    page, stats, too_big = answers
    assert "<title>vidsearch review</title>" in page
    assert stats["videos"] == 0
    assert "upload limit of 5000 bytes" in too_big["error"]  # the server's media limit
    assert f"Review page (matches side by side): {started[0].url}" in capsys.readouterr().out
    assert not started[0]._thread.is_alive()  # stopped with the server
