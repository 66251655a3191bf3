"""`make` on a fresh clone never retrains a committed checkpoint.

A checkout gives files whatever mtimes the order of writing gives them, so a rule with a
checkpoint as a normal prerequisite could find barlow.pt "newer" than text_video.pt and
retrain it (7 minutes, and a modified tracked file). The plan (`make -n`) of every
top-level target is read on a real clone whose mtimes are set the worst way round.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ("barlow.pt", "video_hash.pt", "text_video.pt", "tags.pt", "captioner.pt")
TRAIN = " train "  # every training recipe runs `$(VS) train <recipe> ...`
EXPORT = " export starter "  # the export rule runs `$(VS) export starter ...`

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("git") is None, reason="needs make and git"
)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone with this checkout's Makefile (uncommitted edits included), every
    checkpoint older than every other file and barlow.pt newer than text_video.pt."""
    out = tmp_path_factory.mktemp("make") / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(out)], check=True)
    shutil.copyfile(ROOT / "Makefile", out / "Makefile")
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=out, check=True, capture_output=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        if not (out / name).is_symlink():
            os.utime(out / name, (2_000_000_000, 2_000_000_000))
    for i, name in enumerate(
        ("captioner.pt", "tags.pt", "text_video.pt", "video_hash.pt", "barlow.pt")
    ):
        os.utime(out / "models" / "starter" / name, (1_000_000_000 + i, 1_000_000_000 + i))
    return out


def _plan(clone: Path, *targets: str) -> list[str]:
    done = subprocess.run(
        ["make", "-n", *targets], cwd=clone, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("target", ["models", "export", "run", "serve-triton", "test", "bench"])
def test_no_training_is_planned_when_the_checkpoints_exist(clone: Path, target: str) -> None:
    assert [line for line in _plan(clone, target) if TRAIN in line] == []


def test_export_does_not_ask_for_the_training_photos(clone: Path) -> None:
    assert not [line for line in _plan(clone, "export") if "wallpapers" in line]


def test_a_missing_checkpoint_is_trained_and_only_it(clone: Path) -> None:
    checkpoint = clone / "models" / "starter" / "text_video.pt"
    checkpoint.rename(checkpoint.with_suffix(".away"))
    try:
        training = [line for line in _plan(clone, "models") if TRAIN in line]
    finally:
        checkpoint.with_suffix(".away").rename(checkpoint)
    assert len(training) == 1 and "train text-release" in training[0]


def test_exporter_code_newer_than_the_last_export_plans_the_export_again(clone: Path) -> None:
    """`make export` after a pull that changed exporters/ re-runs `export starter
    --if-missing` (which compares the code's sha256 with the versions' provenance)."""
    marker = clone / "model_repository" / ".exported"
    source = clone / "exporters" / "caption_families.py"
    marker.touch()
    os.utime(marker, (2_100_000_000, 2_100_000_000))  # exported after every clone file
    try:
        assert [line for line in _plan(clone, "export") if EXPORT in line] == []
        os.utime(source, (2_200_000_000, 2_200_000_000))  # then the exporter changed
        plan = _plan(clone, "export")
        refill = [line for line in _plan(clone, "run") if " catalog background " in line]
    finally:
        marker.unlink()
        os.utime(source, (2_000_000_000, 2_000_000_000))
    assert len([line for line in plan if EXPORT in line and "--if-missing" in line]) == 1
    assert [line for line in plan if TRAIN in line] == []
    assert len(refill) == 1  # the background is encoded again by what was exported
