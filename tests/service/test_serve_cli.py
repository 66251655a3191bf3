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


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["serve", "--index-dir", "{missing}"], "--index-dir"),
        (["serve", "--config", "{missing}"], "--config"),
        (["serve", "--with-tritonserver", "{missing}"], "--with-tritonserver"),
        (["serve", "--index-dir", "{file}"], "--index-dir"),
        (["reindex", "--config", "{missing}"], "--config"),
        (["catalog", "background", "--videos", "1", "--config", "{missing}"], "--config"),
        (["train", "text-video", "--config", "{missing}"], "--config"),
        (["export", "--family", "video_hash", "--checkpoint", "{missing}"], "--checkpoint"),
    ],
)
def test_a_missing_path_is_a_one_line_usage_error(
    tmp_path: Path, capsys: Any, argv: list[str], flag: str
) -> None:
    """Before anything starts: no traceback, no training with defaults, exit status 2."""
    from vidsearch.cli import main

    paths = {"missing": str(tmp_path / "nope"), "file": str(tmp_path / "a-file")}
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SystemExit) as exited:
        main([arg.format(**paths) for arg in argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {tmp_path}" in err
    assert "does not exist" in err or "is a file, not a folder" in err
    assert "Traceback" not in err
