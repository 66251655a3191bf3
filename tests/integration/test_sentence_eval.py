"""`vidsearch eval sentences` run tiny end to end: the captioner's first test videos indexed
through the serving code (every model `make export` writes, ONNX Runtime, Qdrant Edge),
typed and ceiling queries through SearchBySentence, one query spoken by espeak-ng through
SearchByAudio, and the 'sentences' section written with its Reproduce line."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from vidsearch.cli import main
from vidsearch.evaluation.report import read_section
from vidsearch.evaluation.spoken import word_errors

VIDEOS = 4
pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="needs Debian's espeak-ng (make speech)"
)


def test_word_errors_count_edits() -> None:
    said = ["a", "red", "circle", "moving", "left"]
    assert word_errors(said, said) == 0
    assert word_errors(said, said[:-1]) == 1  # deletion
    assert word_errors(said, ["a", "bed", *said[2:], "now"]) == 2  # substitution + insertion
    assert word_errors(said, []) == len(said)


def test_the_tiny_benchmark_runs_and_writes_its_section(
    release_repository: Path, tmp_path: Path
) -> None:
    out, figures = tmp_path / "BENCHMARKS.md", tmp_path / "sentences.json"
    assert (
        main(
            [
                "eval",
                "sentences",
                "--repository",
                str(release_repository),
                "--videos",
                str(VIDEOS),
                "--queries",
                "1",
                "--voices",
                "en-us",
                "--speeds",
                "150",
                "--work-dir",
                str(tmp_path / "work"),
                "--out",
                str(out),
                "--json",
                str(figures),
                "--no-progress",
            ]
        )
        == 0
    )
    result = json.loads(figures.read_text())
    assert result["videos"] == VIDEOS
    for row in result["typed"].values():
        assert 0.0 <= row["r@1"] <= row["r@5"] <= row["r@10"] <= 1.0
    # every video is in the top 10 of four, found by its sentence vector at least
    assert result["typed"]["generated"]["r@10"] == 1.0
    assert result["typed"]["true_caption"]["r@10"] == 1.0
    # served fusion (keywords) beside reciprocal rank, the same queries
    assert result["fusion"] == "keywords" and result["typed"]["true_caption_rrf"]["r@10"] == 1.0
    assert len(result["spoken"]) == 2  # one voice, one speed, clean and noisy
    for cond in result["spoken"]:
        assert cond["queries"] == 1 and cond["words"] > 0
        assert 0.0 <= cond["wer"] <= 1.5 and math.isfinite(cond["recognition_s_per_audio_s"])
        assert 0.0 < cond["recognition_s_per_audio_s"] < 2.0
        said, heard = cond["examples"][0]
        assert heard, f"nothing recognised of {said!r}"
    section = read_section(out, "sentences")
    assert section is not None and "Reproduce: `" in section
    assert "| SearchBySentence, generated captions |" in section and "| en-us | 150 |" in section
    assert "fused by reciprocal rank instead (`captions.fusion=rrf`)" in section
    # the typed queries worded as a recogniser without errors writes them, beside the spoken
    assert result["typed"]["as_heard"]["r@10"] == 1.0 and result["spoken_as_heard_r@5"] >= 0.0
    assert "| SearchBySentence, query as heard without error" in section
    assert "the same queries as heard without error: R@5" in section
