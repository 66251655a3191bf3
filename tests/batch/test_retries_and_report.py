"""Item-level retries (a cap, backoff, no retry of what cannot change) and the report a
backfill ends with (outcomes, failures, counters, stage costs, the cluster projection)."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from vidsearch import metrics
from vidsearch.batch.manifest import ManifestEntry
from vidsearch.batch.pipeline import BackfillOptions, attempt
from vidsearch.batch.report import BackfillReport, Item, project
from vidsearch.inference.base import BackendUnavailableError
from vidsearch.media.errors import CorruptMediaError, DecodeTimeoutError

OPTIONS = BackfillOptions(retries=2, retry_backoff_s=0.0)


def _flaky(failures: list[BaseException]) -> tuple[list[int], Callable[[], None]]:
    """A stage that raises ``failures`` in turn, then succeeds; and its calls."""
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]

    return calls, work


def test_transient_errors_are_retried_up_to_the_cap() -> None:
    item = Item(ManifestEntry("v", Path("v.mp4")))
    calls, work = _flaky([BackendUnavailableError("triton restarting")] * 2)
    assert attempt(item, "encode", work, OPTIONS, timed=True)
    assert len(calls) == 3 and item.retries == 2 and item.status == "pending"
    assert item.seconds["encode"] >= 0

    item = Item(ManifestEntry("w", Path("w.mp4")))
    calls, work = _flaky([OSError(errno.EIO, "I/O error")] * 3)
    assert not attempt(item, "hash", work, OPTIONS)
    assert len(calls) == 3 and item.retries == 2
    assert (item.status, item.stage) == ("failed", "hash")
    assert item.error == "OSError: [Errno 5] I/O error"


@pytest.mark.parametrize("error", [
    CorruptMediaError("{source} is not a video", "/srv/x.mp4"),
    FileNotFoundError(errno.ENOENT, "No such file or directory"),
])  # fmt: skip
def test_what_a_retry_cannot_fix_fails_at_once(error: BaseException) -> None:
    item = Item(ManifestEntry("v", Path("v.mp4")))
    calls, work = _flaky([error] * 3)
    assert not attempt(item, "decode", work, OPTIONS)
    assert len(calls) == 1 and item.retries == 0 and item.status == "failed"
    assert "/srv/x.mp4" not in item.error  # media errors name "the file", not a server path


def test_a_decode_timeout_is_retried() -> None:
    item = Item(ManifestEntry("v", Path("v.mp4")))
    calls, work = _flaky([DecodeTimeoutError("{source} took too long")])
    assert attempt(item, "decode", work, OPTIONS)
    assert len(calls) == 2 and item.retries == 1


def test_report_counts_writes_and_projects(tmp_path: Path) -> None:
    indexed = metrics.BACKFILL_VIDEOS.labels(outcome="indexed")
    retries = metrics.BACKFILL_RETRIES
    before = indexed._value.get(), retries._value.get()
    report = BackfillReport(model_version=3)
    for i, (decode_s, encode_s) in enumerate([(0.4, 0.1), (0.6, 0.3), (0.5, 0.2)]):
        report.add(Item(ManifestEntry(f"v{i}", Path(f"v{i}.mp4")), status="indexed", retries=i,
                        seconds={"hash": 0.01, "decode": decode_s, "encode": encode_s,
                                 "catalog_upsert": 0.05}))  # fmt: skip
    report.add(Item(ManifestEntry("old", Path("old.mp4")), status="skipped"))
    report.add(Item(ManifestEntry("bad", Path("/a/bad.mp4")), status="failed", stage="decode",
                    error="CorruptMediaError: the file is damaged"))  # fmt: skip
    assert (indexed._value.get() - before[0], retries._value.get() - before[1]) == (3, 3)
    assert dict(report.outcomes) == {"indexed": 3, "skipped": 1, "failed": 1}
    assert report.per_video_s("decode") == 0.5 and report.encode_s() == pytest.approx(0.2)

    four = project(report.finish(), 4, decode_cpus=16, encoders=2)
    assert four.decode_per_s == pytest.approx(4 * 16 / 0.51)
    assert four.encode_per_s == pytest.approx(4 * 2 / 0.2)
    assert four.write_per_s == pytest.approx(20.0) and four.bottleneck == "catalog write"
    assert four.videos_per_s == pytest.approx(20.0)
    report.projections = [four]
    report.write(tmp_path / "r" / "report.json")
    written = json.loads((tmp_path / "r" / "report.json").read_text())
    assert written["failures"] == [{"video_id": "bad", "source": "/a/bad.mp4", "stage": "decode",
                                    "error": "CorruptMediaError: the file is damaged"}]
    assert written["outcomes"] == {"indexed": 3, "skipped": 1, "failed": 1}
    assert written["projections"][0]["bottleneck"] == "catalog write"
    summary = report.summary()
    assert "indexed 3, skipped (already current) 1, failed 1, retries 3" in summary
    assert "failed bad (/a/bad.mp4) at decode: CorruptMediaError" in summary
    assert "projected on 4 node(s): 20.00 videos/s" in summary
