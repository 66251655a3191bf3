"""``vidsearch --help`` stays fast: it lists every command without importing the heavy
libraries the commands use (PyTorch, PyAV, Qdrant), which take seconds to load."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "av", "qdrant_client", "qdrant_edge", "ray")


def _imported(stderr: str) -> set[str]:
    """Module names from ``python -X importtime`` output (``import time: … | … | name``)."""
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_help_lists_commands_without_heavy_imports() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vidsearch", "--help"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for command in ("train", "export", "corpus", "catalog", "models", "serve", "backfill"):
        assert command in done.stdout
    imported = _imported(done.stderr)
    assert "vidsearch.cli" in imported  # the parse works: the check below can fail
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert not heavy, f"`vidsearch --help` imports {heavy}"
