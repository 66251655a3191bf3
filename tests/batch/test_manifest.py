"""The backfill manifest: CSV and JSON Lines, paths and file:// URIs, ids defaulting to
the file stem; every mistake named with its line before any work starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidsearch.batch.manifest import ManifestEntry, ManifestError, read_manifest


def test_csv_with_relative_paths_uris_and_tags(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    manifest = tmp_path / "archive.csv"
    manifest.write_text(
        "id,source,title,tags\n"
        "a1,clips/one.mp4,First,\"news, sport\"\n"
        f",file://{tmp_path}/clips/two%20b.mp4,,\n"
        f"c3,{tmp_path}/three.mkv,Third,music\n"
    )
    assert read_manifest(manifest) == [
        ManifestEntry("a1", tmp_path / "clips" / "one.mp4", "First", ("news", "sport")),
        ManifestEntry("two b", tmp_path / "clips" / "two b.mp4", "", ()),
        ManifestEntry("c3", tmp_path / "three.mkv", "Third", ("music",)),
    ]


def test_jsonl_with_tag_lists_and_blank_lines(tmp_path: Path) -> None:
    manifest = tmp_path / "archive.jsonl"
    rows = [{"id": "x", "source": "x.mp4", "tags": ["a", " b "]}, {"source": "file:///v/y.mp4"}]
    manifest.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n")
    assert read_manifest(manifest) == [
        ManifestEntry("x", tmp_path / "x.mp4", "", ("a", "b")),
        ManifestEntry("y", Path("/v/y.mp4")),
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("m.csv", "id,path\nx,a.mp4\n", r"m.csv:1: the header must name a source column"),
        ("m.csv", "source,colour\na.mp4,red\n", r"m.csv:2: unknown field\(s\) colour"),
        ("m.csv", "source\na.mp4\nb/a.mp4\n", r"m.csv:3: id 'a' is also on line 2"),
        ("m.csv", "id,source\nx,\n", r"m.csv:2: no source"),
        ("m.csv", "source\nhttps://host/a.mp4\n", r"only paths and file:// URIs"),
        ("m.csv", "source\nfile://host/a.mp4\n", r"names host 'host'"),
        ("m.jsonl", '{"source": "a.mp4"}\n{"source": \n', r"m.jsonl:2: not JSON"),
        ("m.jsonl", '["a.mp4"]\n', r"m.jsonl:1: expected an object"),
        ("m.jsonl", '{"source": "a.mp4", "tags": [1]}\n', r"m.jsonl:1: tags must be"),
        ("m.txt", "a.mp4\n", r"a manifest is .csv or .jsonl, not .txt"),
    ],
)
def test_mistakes_name_their_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    manifest = tmp_path / name
    manifest.write_text(text)
    with pytest.raises(ManifestError, match=message):
        read_manifest(manifest)
