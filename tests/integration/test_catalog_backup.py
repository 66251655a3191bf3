"""Backup and restore as an operator does it: index real H.264 files with the exported
starter models, `vidsearch catalog backup`, lose the catalog, `vidsearch catalog
restore` into a new directory, and get the same answers; a damaged archive is refused
without touching the catalog."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import yaml

from vidsearch.cli import main
from vidsearch.config import VidsearchConfig
from vidsearch.media.corpus import BenchmarkManifest
from vidsearch.orchestrator.api import SearchOptions
from vidsearch.orchestrator.factory import build_orchestrator


def make_config(repository: Path, catalog_dir: Path) -> VidsearchConfig:
    config = VidsearchConfig()
    config.inference.model_repository = repository
    config.catalog.path = catalog_dir
    return config


def answers(config: VidsearchConfig, queries: list[Path], ids: list[str]) -> dict[str, object]:
    """Stats, every query's hits (ids, scores, segments) and every video's neighbours."""
    orchestrator = build_orchestrator(config)
    try:
        stats = orchestrator.stats()
        hits = [
            [
                (h.video.video_id, round(h.score, 5), h.hamming, h.segments)
                for h in orchestrator.search_by_video(query, SearchOptions()).hits
            ]
            for query in queries
        ]
        neighbours = {
            v: [(i.video_id, round(s, 5)) for i, s in orchestrator.recommend(v, 3)] for v in ids
        }
        return {
            "videos": stats.videos,
            "keyframes": stats.keyframes,
            "hits": hits,
            "nb": neighbours,
        }
    finally:
        orchestrator.close()


def write_config(config: VidsearchConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


def test_backup_lose_restore_answers_the_same(
    starter_repository: Path, corpus: BenchmarkManifest, tmp_path: Path, capsys
) -> None:
    refs = corpus.references[:6]
    queries = [Path(q.path) for q in corpus.queries[:4]] + [Path(refs[0].path)]
    original = make_config(starter_repository, tmp_path / "original" / "catalog")
    orchestrator = build_orchestrator(original)
    try:
        for ref in refs:
            orchestrator.index_video(Path(ref.path), video_id=ref.video_id, source=str(ref.path))
    finally:
        orchestrator.close()
    ids = [ref.video_id for ref in refs]
    before = answers(original, queries, ids)
    assert before["videos"] == 6 and before["hits"][-1][0][0] == refs[0].video_id

    archive = tmp_path / "catalog.tar"
    config_file = write_config(original, tmp_path / "original.yaml")
    assert main(["catalog", "backup", "--config", str(config_file), "--out", str(archive)]) == 0
    shutil.rmtree(original.catalog.path)  # the disk is lost

    restored = make_config(starter_repository, tmp_path / "restored" / "catalog")
    restored_file = write_config(restored, tmp_path / "restored.yaml")
    assert main(["catalog", "restore", str(archive), "--config", str(restored_file)]) == 0
    assert answers(restored, queries, ids) == before

    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as tar:
        chunk = tar.getmembers()[-2]  # the last data chunk (the manifest is last)
    data = bytearray(archive.read_bytes())
    data[chunk.offset_data + chunk.size - 1] ^= 0x01  # one bit of rot
    damaged.write_bytes(bytes(data))
    capsys.readouterr()
    args = ["catalog", "restore", str(damaged), "--config", str(restored_file), "--force"]
    assert main(args) == 1
    assert "corrupt" in capsys.readouterr().err
    assert answers(restored, queries, ids) == before
