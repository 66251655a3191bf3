"""The backfill manifest: which videos to index, with their ids, titles and tags.

CSV (a header row naming ``source`` and optionally ``id``, ``title``, ``tags``) or JSON
Lines (one object per line with the same keys; ``tags`` a list or a comma-separated
string). A source is a path (relative paths are read from the manifest's folder) or a
``file://`` URI; the id defaults to the file name without its suffix. Every mistake is
reported with its line number before any work starts.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

FIELDS = ("id", "source", "title", "tags")


class ManifestError(ValueError):
    """The manifest cannot be read as a list of videos; the message names the line."""


@dataclass(frozen=True)
class ManifestEntry:
    """One video to index: the file it comes from and what the catalog stores with it."""

    video_id: str
    path: Path
    title: str = ""
    tags: tuple[str, ...] = ()


def source_path(source: str, base: Path) -> Path:
    """A path or ``file://`` URI as an absolute path (other schemes are refused)."""
    parsed = urlparse(source)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"file URI {source!r} names host {parsed.netloc!r}; use file:///path")
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter: a Windows drive, a path
        raise ValueError(f"source {source!r}: only paths and file:// URIs are read")
    path = Path(source).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _tags(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        raise ValueError("tags must be a list of strings or a comma-separated string")
    return tuple(t.strip() for t in items if t.strip())


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of a CSV or JSON Lines manifest."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ManifestError(f"{path}:{number}: expected an object with a source")
            yield number, row
        return
    if path.suffix.lower() != ".csv":
        raise ManifestError(f"{path}: a manifest is .csv or .jsonl, not {path.suffix or 'none'}")
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or "source" not in reader.fieldnames:
        raise ManifestError(f"{path}:1: the header must name a source column ({', '.join(FIELDS)})")
    for number, row in enumerate(reader, 2):
        yield number, row


def read_manifest(path: Path) -> list[ManifestEntry]:
    """The manifest's entries, in order; ManifestError on the first bad line."""
    entries: list[ManifestEntry] = []
    seen: dict[str, int] = {}
    base = path.resolve().parent
    for number, row in _rows(path):
        unknown = sorted(set(row) - set(FIELDS) - {None})
        if unknown:
            raise ManifestError(f"{path}:{number}: unknown field(s) {', '.join(unknown)} "
                                f"(known: {', '.join(FIELDS)})")
        source = row.get("source")
        if not isinstance(source, str) or not source.strip():
            raise ManifestError(f"{path}:{number}: no source (a path or file:// URI)")
        try:
            file = source_path(source.strip(), base)
            tags = _tags(row.get("tags"))
        except ValueError as exc:
            raise ManifestError(f"{path}:{number}: {exc}") from None
        video_id = str(row.get("id") or file.stem).strip()
        if video_id in seen:
            raise ManifestError(f"{path}:{number}: id {video_id!r} is also on line "
                                f"{seen[video_id]}; ids must be unique")
        seen[video_id] = number
        entries.append(ManifestEntry(video_id, file, str(row.get("title") or ""), tags))
    return entries
