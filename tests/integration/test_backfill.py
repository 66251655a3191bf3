"""`vidsearch backfill` on a real local Ray (one runtime for the module: Ray starts slowly
on 2 cores), the starter models in ONNX Runtime actors and a Qdrant Edge catalog on disk:
generated H.264 videos are indexed, a corrupt and a missing file land in the report, a
run killed with SIGKILL and run again indexes each video exactly once, and a re-index to
model version 2 keeps search answering throughout."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import ray
import yaml

from vidsearch import metrics
from vidsearch.batch.pipeline import BackfillOptions, reindex_entries, run_backfill
from vidsearch.catalog import schema as sc
from vidsearch.cli import main
from vidsearch.config import VidsearchConfig
from vidsearch.evaluation.systems import export_release
from vidsearch.media.synthetic import generate_video_file
from vidsearch.orchestrator.api import SearchOptions, SentenceSearchOptions
from vidsearch.orchestrator.factory import build_orchestrator

STARTER = Path(__file__).resolve().parents[2] / "models" / "starter"
VIDEOS = 24


@dataclass(frozen=True)
class Archive:
    manifest: Path  # the good videos, a corrupt one and a missing one
    videos: dict[str, Path]  # id -> file of the good ones


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[None]:
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    root = tmp_path_factory.mktemp("archive")
    videos = {f"clip{i:02d}": generate_video_file(root / f"clip{i:02d}.mp4", seed=500 + i,
                                                  duration_s=3.0, fps=8.0, width=96, height=72)
              for i in range(VIDEOS)}  # fmt: skip
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    manifest = root / "archive.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "source", "title", "tags"])
        for vid, path in videos.items():
            writer.writerow([vid, path.as_uri() if vid.endswith("1") else path.name,
                             f"title {vid}", "generated,test"])  # fmt: skip
        writer.writerow(["broken", "corrupt.mp4", "", ""])
        writer.writerow(["gone", "never-written.mp4", "", ""])
    return Archive(manifest, videos)


def _config(repository: Path, root: Path) -> Path:
    config = VidsearchConfig()
    config.inference.model_repository = repository
    config.catalog.path = root / "catalog"
    config.log_format = "text"
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


def _backfill(config: Path, report: Path, *more: str, manifest: Path | None = None) -> dict:
    what = [str(manifest)] if manifest else ["--reindex"]
    status = main(["backfill", *what, "--config", str(config), "--report", str(report),
                   "--write-batch", "4", *more])  # fmt: skip
    result = json.loads(report.read_text())
    assert status == (1 if result["failures"] else 0)
    return result


def _generations(config_path: Path) -> dict[str, int]:
    """Each committed video's write generation (a new one per write)."""
    config = VidsearchConfig.model_validate(yaml.safe_load(config_path.read_text()))
    orchestrator = build_orchestrator(config)
    try:
        ids = [info.video_id for info in orchestrator.videos()]
        store = orchestrator._catalog.store  # type: ignore[attr-defined]
        points = store.retrieve(sc.VIDEOS, [sc.video_point_id(v) for v in ids],
                                payload=[sc.F_VIDEO_ID, sc.F_GENERATION], vectors=False)
        return {p.payload[sc.F_VIDEO_ID]: int(p.payload[sc.F_GENERATION]) for p in points}
    finally:
        orchestrator.close()


@pytest.fixture(scope="module")
def indexed(ray_runtime: None, starter_repository: Path, archive: Archive,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, float]:  # fmt: skip
    """The archive backfilled once: (config file, report, indexed-counter increase)."""
    root = tmp_path_factory.mktemp("backfilled")
    config = _config(starter_repository, root)
    before = metrics.BACKFILL_VIDEOS.labels(outcome="indexed")._value.get()
    report = _backfill(config, root / "report.json", manifest=archive.manifest)
    return config, report, metrics.BACKFILL_VIDEOS.labels(outcome="indexed")._value.get() - before


def test_backfill_indexes_the_archive_and_reports_bad_files(
    indexed: tuple[Path, dict, float], archive: Archive, tmp_path: Path
) -> None:
    config_path, report, counted = indexed
    assert report["outcomes"] == {"indexed": VIDEOS, "failed": 2}
    assert counted == VIDEOS  # the Prometheus counter saw the same
    failures = {f["video_id"]: f for f in report["failures"]}
    assert failures["broken"]["stage"] == "decode"
    assert failures["broken"]["error"].startswith("CorruptMediaError")
    assert failures["broken"]["source"] == str(archive.manifest.parent / "corrupt.mp4")
    assert failures["gone"]["stage"] == "hash"
    assert failures["gone"]["error"].startswith("FileNotFoundError")
    assert set(report["median_stage_seconds"]) >= {"hash", "decode", "encode", "catalog_upsert"}
    one, four, sixteen = report["projections"]  # the default cluster sizes: 1, 4, 16 nodes
    assert (one["nodes"], four["nodes"], sixteen["nodes"]) == (1, 4, 16)
    assert four["decode_per_s"] == pytest.approx(4 * one["decode_per_s"])
    assert four["encode_per_s"] == pytest.approx(4 * one["encode_per_s"])
    assert four["write_per_s"] == one["write_per_s"] > 0  # one writer, however many nodes
    for p in (one, four, sixteen):
        bounds = {"decode": p["decode_per_s"], "encode": p["encode_per_s"],
                  "catalog write": p["write_per_s"]}
        assert p["videos_per_s"] == min(bounds.values()) and bounds[p["bottleneck"]] == min(
            bounds.values())

    config = VidsearchConfig.model_validate(yaml.safe_load(config_path.read_text()))
    orchestrator = build_orchestrator(config)
    try:
        infos = {info.video_id: info for info in orchestrator.videos()}
        assert set(infos) == set(archive.videos)
        info = infos["clip07"]
        assert (info.title, info.tags, info.model_version) == ("title clip07", ("generated",
                                                                                "test"), 1)
        assert info.source == str(archive.videos["clip07"])
        for vid in ("clip03", "clip11"):  # a relative path and a file:// URI
            result = orchestrator.search_by_video(archive.videos[vid], SearchOptions())
            assert result.hits[0].video.video_id == vid
    finally:
        orchestrator.close()


def test_rerun_skips_what_is_indexed(indexed: tuple[Path, dict, float], archive: Archive,
                                     tmp_path: Path) -> None:  # fmt: skip
    config_path = indexed[0]
    before = _generations(config_path)
    report = _backfill(config_path, tmp_path / "again.json", manifest=archive.manifest)
    assert report["outcomes"] == {"skipped": VIDEOS, "failed": 2}
    assert _generations(config_path) == before  # nothing written again


def test_killed_half_way_then_rerun_indexes_each_video_once(
    ray_runtime: None, starter_repository: Path, archive: Archive, tmp_path: Path
) -> None:
    config = _config(starter_repository, tmp_path)
    command = [sys.executable, "-m", "vidsearch", "backfill", str(archive.manifest), "--config",
               str(config), "--report", str(tmp_path / "killed.json"), "--write-batch", "2",
               "--num-cpus", "2", "--metrics-port", "0", "-v"]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, start_new_session=True)  # fmt: skip
    seen, metrics_url = [], ""
    assert child.stdout is not None
    for line in child.stdout:  # a real run, killed once a third of the videos are written
        if line.startswith("metrics on "):
            metrics_url = line.split()[-1]
        if line.startswith("indexed "):
            seen.append(line.split()[1])
        if len(seen) >= VIDEOS // 3:
            break
    assert len(seen) >= VIDEOS // 3, f"the run ended early, having written {seen}"
    # Progress on Prometheus while it runs: at least the videos it said it wrote.
    scraped = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    counted = re.search(r'^vidsearch_backfill_videos_total\{outcome="indexed"\} (\S+)$', scraped,
                        flags=re.M)  # fmt: skip
    assert counted is not None and float(counted[1]) >= len(seen)
    os.killpg(child.pid, signal.SIGKILL)  # the driver and every Ray process it started
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL and not (tmp_path / "killed.json").exists()

    committed = _generations(config)
    assert set(seen) <= set(committed) and len(committed) < VIDEOS
    report = _backfill(config, tmp_path / "rerun.json", manifest=archive.manifest)
    assert report["outcomes"]["skipped"] == len(committed)
    assert report["outcomes"]["indexed"] == VIDEOS - len(committed)
    after = _generations(config)
    assert set(after) == set(archive.videos)
    assert {v: after[v] for v in committed} == committed  # none of them written twice


def test_reindex_to_version_2_keeps_search_working(
    indexed: tuple[Path, dict, float], starter_repository: Path, archive: Archive,
    tmp_path: Path,
) -> None:  # fmt: skip
    config = VidsearchConfig.model_validate(yaml.safe_load(indexed[0].read_text()))
    shutil.copytree(config.catalog.path, tmp_path / "catalog")
    shutil.copytree(starter_repository, tmp_path / "repo")
    export_release([STARTER / "video_hash.pt", STARTER / "barlow.pt"], tmp_path / "repo")  # v2
    config.catalog.path, config.inference.model_repository = tmp_path / "catalog", tmp_path / "repo"
    orchestrator = build_orchestrator(config)
    try:
        entries, missing = reindex_entries(orchestrator, 2)
        assert len(entries) == VIDEOS and missing == []
        outcome: dict = {}

        def move() -> None:
            outcome["report"] = run_backfill(orchestrator, config, entries,
                                             BackfillOptions(model_version=2, write_batch=3))

        mover = threading.Thread(target=move)
        mover.start()
        probes: list[tuple[str, int]] = []
        while mover.is_alive() or not probes:  # search while the catalog moves to v2
            vid = sorted(archive.videos)[len(probes) % VIDEOS]
            before = orchestrator.get_video(vid)
            assert before is not None
            result = orchestrator.search_by_video(
                archive.videos[vid], SearchOptions(model_version=before.model_version))
            assert result.hits and result.hits[0].video.video_id == vid
            probes.append((vid, before.model_version))
        mover.join()
        report = outcome["report"]
        assert report.outcomes == {"indexed": VIDEOS} and report.model_version == 2
        assert {version for _, version in probes} == {1, 2}  # searched before and after each move
        assert {info.model_version for info in orchestrator.videos()} == {2}
        latest = orchestrator.search_by_video(archive.videos["clip05"], SearchOptions())
        assert latest.model_version == 2 and latest.hits[0].video.video_id == "clip05"
    finally:
        orchestrator.close()
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    again = _backfill(config_file, tmp_path / "noop.json")  # --reindex: nothing left to move
    assert again["outcomes"] == {} and again["model_version"] == 2


def test_backfill_captions_videos_as_the_server_does(
    ray_runtime: None, release_repository: Path, archive: Archive, tmp_path: Path
) -> None:
    """With the captioner served, a backfilled video gets the sentence (and its vector and
    versions) that the server's own indexing writes for the same file; run again, the
    captioned videos are current and skipped."""
    chosen = ["clip02", "clip05", "clip09"]
    manifest = tmp_path / "three.csv"
    manifest.write_text("id,source\n" + "".join(f"{v},{archive.videos[v]}\n" for v in chosen))
    (tmp_path / "backfilled").mkdir()
    config_path = _config(release_repository, tmp_path / "backfilled")
    report = _backfill(config_path, tmp_path / "report.json", manifest=manifest)
    assert report["outcomes"] == {"indexed": 3}
    assert "caption" in report["median_stage_seconds"]
    config = VidsearchConfig.model_validate(yaml.safe_load(config_path.read_text()))
    served = config.model_copy(deep=True)
    served.catalog.path = tmp_path / "served" / "catalog"
    backfilled, by_server = build_orchestrator(config), build_orchestrator(served)
    try:
        for vid in chosen:
            by_server.index_video(archive.videos[vid], video_id=vid)
            mine, theirs = backfilled.get_video(vid), by_server.get_video(vid)
            assert mine is not None and theirs is not None
            assert mine.caption and mine.caption == theirs.caption
            assert mine.caption_model_version == theirs.caption_model_version == 1
        caption = backfilled.get_video("clip05").caption  # type: ignore[union-attr]
        found = backfilled.sentences.search(caption, SentenceSearchOptions(top_k=1))
        assert found.hits[0].video.video_id == "clip05"
        assert found.hits[0].vector_rank == 1  # its sentence vector was written too
    finally:
        backfilled.close()
        by_server.close()
    again = _backfill(config_path, tmp_path / "again.json", manifest=manifest)
    assert again["outcomes"] == {"skipped": 3}
