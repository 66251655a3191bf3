"""argparse types for flags that name existing files and folders.

A missing path is a usage error: argparse prints one line naming the flag and exits
with status 2, before any model, catalog or server is started (instead of a traceback
minutes later, or a default silently used in place of the named config).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def existing_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise argparse.ArgumentTypeError(f"{value} {what}")
    return path


def existing_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"{value} {what}")
    return path
