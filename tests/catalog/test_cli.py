"""`vidsearch catalog backup|restore` as a user runs it: config files, exit codes, messages."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import yaml

from vidsearch.catalog import QdrantEdgeCatalog
from vidsearch.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # local mode: "no effect" notes


def config_file(tmp_path: Path, name: str, backend: str = "qdrant_edge") -> Path:
    path = tmp_path / f"{name}.yaml"
    catalog = {"backend": backend, "path": str(tmp_path / name), "collection_prefix": "t"}
    path.write_text(yaml.safe_dump({"catalog": catalog}))
    return path


def filled(tmp_path: Path, mk, name: str, ids: list[str]) -> Path:
    with QdrantEdgeCatalog(tmp_path / name, texture_dim=8, embedding_dim=4) as catalog:
        for video_id in ids:
            catalog.upsert_video(mk.video(video_id, frames=2, embedding=mk.embedding()))
    return config_file(tmp_path, name)


def ids_at(root: Path) -> list[str]:
    with QdrantEdgeCatalog(root) as catalog:
        return sorted(v.video_id for v in catalog.iter_videos())


def test_backup_then_restore_into_a_fresh_catalog(tmp_path: Path, mk, capsys) -> None:
    source = filled(tmp_path, mk, "source", ["a", "b", "c"])
    archive = tmp_path / "catalog.tar"
    assert main(["catalog", "backup", "--config", str(source), "--out", str(archive)]) == 0
    out = capsys.readouterr()
    assert "backed up 3 videos and 6 key frames (model versions 1;" in out.out
    assert "videos: 3 points" in out.err  # progress

    assert main(["catalog", "backup", "--config", str(source), "--out", str(archive)]) == 1
    assert "exists" in capsys.readouterr().err  # never overwrites an earlier backup
    nowhere = tmp_path / "missing" / "catalog.tar"
    assert main(["catalog", "backup", "--config", str(source), "--out", str(nowhere)]) == 1
    assert "does not exist" in capsys.readouterr().err

    target = config_file(tmp_path, "target")
    assert main(["catalog", "restore", str(archive), "--config", str(target)]) == 0
    assert "restored 3 videos and 6 key frames" in capsys.readouterr().out
    assert ids_at(tmp_path / "target") == ["a", "b", "c"]

    local = config_file(tmp_path, "local", backend="qdrant_local")  # another backend
    assert main(["catalog", "restore", str(archive), "--config", str(local)]) == 0


def test_restore_over_a_catalog_needs_force(tmp_path: Path, mk, capsys) -> None:
    source = filled(tmp_path, mk, "source", ["a"])
    archive = tmp_path / "catalog.tar"
    assert main(["catalog", "backup", "--config", str(source), "--out", str(archive)]) == 0
    target = filled(tmp_path, mk, "target", ["mine"])
    capsys.readouterr()
    assert main(["catalog", "restore", str(archive), "--config", str(target)]) == 1
    err = capsys.readouterr().err
    assert "--force" in err and "The catalog was not changed." in err
    assert ids_at(tmp_path / "target") == ["mine"]
    assert main(["catalog", "restore", str(archive), "--config", str(target), "--force"]) == 0
    assert ids_at(tmp_path / "target") == ["a"]


def test_corrupt_archive_is_refused_with_an_actionable_message(tmp_path: Path, mk, capsys) -> None:
    source = filled(tmp_path, mk, "source", ["a", "b"])
    archive = tmp_path / "catalog.tar"
    assert main(["catalog", "backup", "--config", str(source), "--out", str(archive)]) == 0
    with tarfile.open(archive) as tar:
        chunk = tar.getmembers()[0]  # a data chunk (the manifest comes last)
    data = bytearray(archive.read_bytes())
    data[chunk.offset_data + chunk.size // 2] ^= 0xFF  # bit rot inside the data
    archive.write_bytes(bytes(data))
    target = filled(tmp_path, mk, "target", ["mine"])
    capsys.readouterr()
    code = main(["catalog", "restore", str(archive), "--config", str(target), "--force"])
    err = capsys.readouterr().err
    assert code == 1
    assert "The catalog was not changed." in err and "intact archive" in err
    assert ids_at(tmp_path / "target") == ["mine"]


def test_a_catalog_held_by_a_server_is_named_with_what_to_do(tmp_path: Path, mk, capsys) -> None:
    source = filled(tmp_path, mk, "source", ["a"])
    with QdrantEdgeCatalog(tmp_path / "source"):  # the "server" holds the directory
        code = main(["catalog", "backup", "--config", str(source), "--out", str(tmp_path / "x")])
    assert code == 1
    assert "stop the server" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_background_help_explains_and_bad_counts_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["catalog", "background", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "BACKGROUND_SEEDS" in text and "never return" in text and "--videos N" in text
    config = config_file(tmp_path, "cat")
    assert main(["catalog", "background", "--videos", "0", "--config", str(config)]) == 1
    assert "--videos must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "cat-background").exists()  # nothing was opened or created
