"""`vidsearch serve` end to end in-process: config file → JSON logs → a server that answers
health checks → SIGTERM stops it gracefully. The orchestrator factory is replaced by the
in-test backend (the real one is exercised by the lead's tests/integration)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
from vidsearch_client import VideoSearchClient

from vidsearch.service import cli as serve_cli
from vidsearch.service import server as server_module


@pytest.fixture
def restore_process_state() -> Any:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def test_serve_runs_until_sigterm(
    tmp_path: Path, monkeypatch: Any, capsys: Any, restore_process_state: Any, backend: Any
) -> None:
    closed: list[bool] = []
    backend.close = lambda: closed.append(True)
    factory = types.ModuleType("vidsearch.orchestrator.factory")
    factory.build_orchestrator = lambda config: backend  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vidsearch.orchestrator.factory", factory)

    started: list[Any] = []
    real_build = server_module.build_server

    def build(config: Any, backend: Any, **kwargs: Any) -> Any:
        started.append(real_build(config, backend, **kwargs))
        return started[-1]

    monkeypatch.setattr(server_module, "build_server", build)
    config = tmp_path / "vidsearch.yaml"
    config.write_text(
        f"server:\n  port: 0\n  metrics_port: 0\n  upload_dir: {tmp_path / 'up'}\n"
        "log_format: json\n"
    )
    answers: list[str] = []

    def probe_then_stop() -> None:
        deadline = time.monotonic() + 10
        while not started and time.monotonic() < deadline:
            time.sleep(0.02)
        if started:
            with VideoSearchClient(started[0].target, timeout=5) as client:
                answers.append(client.health())
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=probe_then_stop, daemon=True).start()
    parser = serve_cli.argparse.ArgumentParser()
    serve_cli.register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--config", str(config), "--grace", "0"])
    assert args.func(args) == 0

    assert answers == ["SERVING"]
    assert closed == [True]
    assert started[0].health is not None and started[0].port > 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    loaded = next(r for r in records if r["msg"] == "loaded config")
    assert loaded["config"]["server"]["port"] == 0
    assert loaded["config"]["catalog"]["api_key"] is None
    assert any(r["msg"] == "serving" and r["target"] == started[0].target for r in records)
