"""A config file that is not there (or not YAML) stops the CLI with one line that says
which file and where it came from, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vidsearch.cli import main


def test_missing_config_from_the_environment_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "vidsearch", "serve"],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "VIDSEARCH_CONFIG": str(missing)},
        cwd=tmp_path,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert str(missing) in lines[0] and "$VIDSEARCH_CONFIG" in lines[0]
    assert "Traceback" not in done.stderr


def test_serve_with_a_bad_config_from_the_environment_exits_2(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("search: [unclosed\n")
    monkeypatch.setenv("VIDSEARCH_CONFIG", str(bad))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vidsearch: error: config file") and "not valid YAML" in err
    assert len(err.splitlines()) == 1
    monkeypatch.setenv("VIDSEARCH_CONFIG", str(tmp_path))  # a folder
    assert main(["serve"]) == 2
    assert "is a folder, not a file" in capsys.readouterr().err
