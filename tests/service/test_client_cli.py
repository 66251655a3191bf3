"""The `vidsearch-client` command line as a user runs it, against the real vidsearch server on
loopback (the in-test backend of conftest behind it, the upload container check on): the
version, where the shared flags may go, what ``--json`` puts on stdout, and when a progress
bar is drawn. TLS flags: tests/security/test_cli_tls.py."""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from vidsearch_client.cli import main

from vidsearch.config import ServerConfig, VidsearchConfig
from vidsearch.service.server import build_server

# The first bytes of an MP4 (an ISO BMFF "ftyp" box): the server's container check passes;
# the in-test backend never decodes.
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 200
DEAD_TARGET = "127.0.0.1:1"  # nothing listens: a flag that is dropped fails the call


def _cli() -> list[str]:
    """The installed console script next to this interpreter, else the module."""
    script = Path(sys.executable).parent / "vidsearch-client"
    return [str(script)] if script.exists() else [sys.executable, "-m", "vidsearch_client.cli"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSEARCH_")}
    env["VIDSEARCH_TARGET"] = DEAD_TARGET
    return env


@pytest.fixture
def target(tmp_path: Path, backend: Any) -> Iterator[str]:
    """The real server with its default upload checks (only video containers accepted)."""
    server = ServerConfig(host="127.0.0.1", port=0, upload_dir=tmp_path / "uploads")
    config = VidsearchConfig(server=server)
    running = build_server(config, backend, with_metrics=False, ready_poll_s=0.05)
    try:
        yield running.target
    finally:
        running.stop(grace=None)


def _main(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _videos(tmp_path: Path, *names: str) -> list[str]:
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_bytes(MP4_HEAD + name.encode())
        paths.append(str(path))
    return paths


def test_version_prints_the_client_package_version() -> None:
    done = subprocess.run(
        [*_cli(), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    version = importlib.metadata.version("vidsearch-client")
    assert done.stdout.strip() == f"vidsearch-client {version}"


def test_shared_flags_before_or_after_the_command(
    target: str, backend: Any, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("VIDSEARCH_TARGET", DEAD_TARGET)  # only --target reaches the server
    (video,) = _videos(tmp_path, "a.mp4")
    assert _main(capsys, "index", video, "--quiet", "--target", target)[0] == 0
    runs = {
        "before": ("--target", target, "--timeout", "5", "--json", "get", "a.mp4"),
        "after": ("get", "a.mp4", "--target", target, "--timeout", "5", "--json"),
        "mixed": ("--json", "get", "--target", target, "a.mp4"),
        "after wins": ("--target", DEAD_TARGET, "get", "a.mp4", "--target", target, "--json"),
    }
    outputs = {}
    for name, argv in runs.items():
        code, out, err = _main(capsys, *argv)
        assert code == 0, (name, err)
        outputs[name] = json.loads(out)
    assert all(o == outputs["before"] for o in outputs.values())
    assert outputs["before"]["video_id"] == "a.mp4"
    # the nested tags commands take them at every level too
    backend.tags = SimpleNamespace(page=lambda size, token: ([], ""))  # an empty library
    code, out, err = _main(capsys, "--json", "tags", "--target", target, "ls", "--quiet")
    assert code == 0, err
    assert json.loads(out) == {"tags": [], "next_page_token": ""}
    with pytest.raises(SystemExit) as usage:
        main(["--json", "--target"])  # a shared flag still needs its value
    assert usage.value.code == 2


def test_json_is_all_stdout_has_and_failed_files_are_in_it(
    target: str, tmp_path: Path, capsys: Any
) -> None:
    good, other = _videos(tmp_path, "good.mp4", "other.mp4")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video, just words\n")
    code, out, err = _main(capsys, "--target", target, "index", good, str(notes), other, "--json")
    assert code == 1  # one file failed
    entries = json.loads(out)
    assert [e["path"] for e in entries] == [good, str(notes), other]
    assert [e["video"]["video_id"] for e in entries if "video" in e] == ["good.mp4", "other.mp4"]
    failed = entries[1]
    assert failed["video_id"] == "notes.txt" and "video" not in failed
    assert failed["error"]["code"] == "INVALID_ARGUMENT"
    assert "text file" in failed["error"]["message"]
    assert "error: " in err and "notes.txt" in err  # people read stderr
    assert "indexed 2 of 3 file(s), 1 failed" in err

    # every command with output: JSON on stdout and nothing else
    for argv in (
        ("search", "--video", good),
        ("recommend", "good.mp4", "--k", "1"),
        ("get", "good.mp4"),
        ("stats",),
        ("health",),
        ("delete", "other.mp4"),
    ):
        code, out, err = _main(capsys, *argv, "--json", "--target", target)
        assert code == 0, (argv, err)
        json.loads(out)  # parses whole: no table, no message mixed in
    # a failed call too: the error as JSON on stdout, the message for people on stderr
    code, out, err = _main(capsys, "get", "nope", "--json", "--target", target)
    assert code == 1
    assert json.loads(out)["error"]["code"] == "NOT_FOUND"
    assert "NOT_FOUND" in err
    # without --json stdout is the table, as before
    code, out, _ = _main(capsys, "index", good, "--target", target)
    assert code == 0 and out.splitlines()[0].split()[0] == "video_id"


def _run_with_tty_stderr(argv: Sequence[str], timeout_s: float = 60.0) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (as in a shell) and stdout on a pipe."""
    master, slave = pty.openpty()
    # 24 x 80 like a terminal window (a new pty is 0 x 0: tqdm would draw a bar of no width)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [*_cli(), *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
        env=_env(),
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        out = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out.decode(), b"".join(chunks).decode(errors="replace")


def test_progress_only_on_a_terminal_never_with_json_or_quiet(target: str, tmp_path: Path) -> None:
    files = _videos(tmp_path, "p1.mp4", "p2.mp4")
    index = ["index", *files, "--target", target]

    code, out, err = _run_with_tty_stderr(index)
    assert code == 0, err
    assert "2/2" in err and "file" in err  # tqdm's bar over the files, on the terminal
    assert "indexed 2 of 2 file(s)" in err
    assert "2/2" not in out

    piped = subprocess.run(
        [*_cli(), *index], capture_output=True, text=True, timeout=60, env=_env(), check=False
    )
    assert piped.returncode == 0, piped.stderr
    assert "2/2" not in piped.stderr  # stderr is a pipe or a log file: no bar
    assert "indexed 2 of 2 file(s)" in piped.stderr

    code, out, err = _run_with_tty_stderr([*index, "--json"])
    assert code == 0 and "2/2" not in err
    assert len(json.loads(out)) == 2

    code, out, err = _run_with_tty_stderr(["--quiet", *index])
    assert code == 0
    assert err.strip() == ""  # no bar, no message
    assert "p1.mp4" in out  # the results themselves still print
