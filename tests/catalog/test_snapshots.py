"""The archive format on its own: what a backup refuses to write, what a reader refuses."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from vidsearch.catalog import SnapshotError
from vidsearch.catalog import schema as sc
from vidsearch.catalog.snapshots import (
    MANIFEST,
    SnapshotReader,
    StoredPoint,
    write_snapshot,
)

DIMS = sc.Dims(texture=3, embedding=None)


def video(video_id: str, generation: int, frames: int) -> StoredPoint:
    return StoredPoint(
        sc.video_point_id(video_id),
        {sc.VEC_HASH: [1.0] * 128, sc.VEC_TEXTURE: [0.5, 0.25, 0.0]},
        {
            sc.F_VIDEO_ID: video_id,
            sc.F_GENERATION: generation,
            "keyframe_count": frames,
            sc.F_MODEL_VERSION: 3,
        },
    )


def frame(video_id: str, generation: int, index: int) -> StoredPoint:
    return StoredPoint(
        sc.keyframe_point_id(video_id, generation, index),
        {sc.VEC_HASH: [-1.0] * 128, sc.VEC_TEXTURE: [0.125, -0.25, 0.375]},  # exact in float32
        {sc.F_VIDEO_ID: video_id, sc.F_GENERATION: generation, sc.F_TIME_S: float(index)},
    )


def exporter(stores: dict[str, list[StoredPoint]]):
    return lambda store: iter([stores[store]])


def test_round_trip_keeps_points_exactly(tmp_path: Path) -> None:
    stores = {sc.VIDEOS: [video("a", 7, 2)], sc.KEYFRAMES: [frame("a", 7, 0), frame("a", 7, 1)]}
    manifest = write_snapshot(
        tmp_path / "s.tar", dims=DIMS, backend="test", export=exporter(stores)
    )
    reader = SnapshotReader(tmp_path / "s.tar")
    assert reader.manifest == manifest
    assert [p for chunk in reader.points(sc.VIDEOS) for p in chunk] == stores[sc.VIDEOS]
    assert [p for chunk in reader.points(sc.KEYFRAMES) for p in chunk] == stores[sc.KEYFRAMES]


def test_a_video_changed_during_the_backup_fails_it_and_leaves_no_file(tmp_path: Path) -> None:
    # The video point says generation 8 with two frames; only one frame of 8 was read.
    stores = {sc.VIDEOS: [video("a", 8, 2)], sc.KEYFRAMES: [frame("a", 7, 0), frame("a", 8, 0)]}
    with pytest.raises(SnapshotError, match="changed while the backup ran"):
        write_snapshot(tmp_path / "s.tar", dims=DIMS, backend="test", export=exporter(stores))
    assert list(tmp_path.iterdir()) == []


def rewrite_manifest(archive: Path, dest: Path, **changes: object) -> None:
    with tarfile.open(archive) as src, tarfile.open(dest, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == MANIFEST:
                data = json.dumps(json.loads(data) | changes).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"points": {"videos": 2, "keyframes": 1}}, "the data holds"),
        ({"model_versions": [4]}, "the data holds"),
        ({"texture_dim": 4}, "does not have 1 rows of 4"),
        ({"format_version": 99}, "this vidsearch reads"),
        ({"schema_version": 99}, "schema 99"),
        ({"sha256": "0" * 64}, "manifest sha256"),
    ],
)
def test_a_manifest_that_does_not_match_its_data_is_refused(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    stores = {sc.VIDEOS: [video("a", 7, 1)], sc.KEYFRAMES: [frame("a", 7, 0)]}
    write_snapshot(tmp_path / "s.tar", dims=DIMS, backend="test", export=exporter(stores))
    rewrite_manifest(tmp_path / "s.tar", tmp_path / "edited.tar", **changes)
    with pytest.raises(SnapshotError, match=message):
        SnapshotReader(tmp_path / "edited.tar")


def test_missing_file_is_a_snapshot_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no such snapshot file"):
        SnapshotReader(tmp_path / "nope.tar")
