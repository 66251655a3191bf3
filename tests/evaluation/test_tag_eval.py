"""`vidsearch eval tags` on a tiny real run: every row of the section, trained ablations
reused when unchanged, the section written between its markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsearch.evaluation.report import read_section, update_section
from vidsearch.evaluation.tags import evaluate_tags, to_markdown
from vidsearch.media.synthetic_audio import espeak_available
from vidsearch.training.tag_training import TagTrainConfig, train_tags
from vidsearch.training.tags import VOCABULARY


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed: run `make speech`")
def test_eval_tags_rows_ablations_and_section(tmp_path: Path) -> None:
    cfg = TagTrainConfig.model_validate({
        "data": {"n_train": 4, "n_val": 2, "n_test": 3, "duration_s": 4.0,
                 "cache_dir": str(tmp_path / "cache")},
        "model": {"dim": 16, "audio_hidden": 8}, "rounds": 1, "positives_per_video": 4,
        "batch_size": 8, "num_threads": 1})
    train_tags(cfg, tmp_path / "tags.pt", progress=False)
    result = evaluate_tags(tmp_path / "tags.pt", ablations=tmp_path / "ablations",
                           ablation_rounds=1, long_videos=2, long_s=8.0, windows=2,
                           progress=False)
    names = [r.name for r in result.rows]
    for expected in ("fused (moe), titles as uploaded", "frames only", "sound only",
                     "title only", "title only, MiniLM without training",
                     "fused, wrong titles", "fused, empty titles", "concat fusion",
                     "mean fusion", "seed (delta = m) mining", "random negatives mining",
                     "tag projection frozen", "reference, training seed 1", "margin 0.4",
                     "8-s videos, O = 8", "8-s videos, P×O = 2×8",
                     "fused, the whole video only (scene weight 0)",
                     "frames only, the whole video only (scene weight 0)",
                     "fused, tags embedded as written (no thesaurus)",
                     "frames only, tags embedded as written (no thesaurus)"):
        assert expected in names
    # hot tags are embedded as served: unseen words rewritten to training tags (WordNet)
    assert ("crimson", "red") in result.rewrites and ("disc", "disk") in result.rewrites
    assert all(kind != "train" for kind in (t.kind for t in VOCABULARY
                                            if t.text in dict(result.rewrites)))
    # rows score as served (video + best scene); the scoring rows by the video alone, and
    # the two orders differ somewhere (else the scenes would not be used)
    scored = {r.name: r.metrics["seen_map"] for r in result.rows}
    assert scored["fused (moe), titles as uploaded"] != scored[
        "fused, the whole video only (scene weight 0)"]
    assert "title only, empty titles" not in names  # nothing to rank with
    for row in result.rows:
        assert row.metrics["seen_videos"] == (2 if row.group == "long videos" else 3)
        assert 0.0 <= row.metrics["seen_r5"] <= 1.0
    assert result.zero_loss["seed (delta = m) mining"] == [1.0]
    prior = next(r for r in result.rows if r.name.startswith("tag frequency prior"))
    assert prior.metrics["distractor_top5"] == 0.0  # untrained tags rank last
    trained = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "ablations").glob("*.pt")}
    assert len(trained) == 8  # seed 1, concat, mean, seed delta, random, margin, projection,
    # and the loss with the listwise term (the test config has none)
    again = evaluate_tags(tmp_path / "tags.pt", ablations=tmp_path / "ablations",
                          ablation_rounds=1, long_videos=2, long_s=8.0, windows=2,
                          progress=False)
    for reused, first in zip(again.rows, result.rows, strict=True):  # the same models
        assert reused.metrics == pytest.approx(first.metrics, nan_ok=True)
    assert {p.name: p.stat().st_mtime_ns  # not retrained
            for p in (tmp_path / "ablations").glob("*.pt")} == trained

    body = to_markdown(result, "moe", None, n_test=3)
    out = tmp_path / "BENCHMARKS.md"
    update_section(out, "tags", "## Tag suggestions\n\n" + body)
    section = read_section(out, "tags")
    assert section is not None and "| model | fused (moe), titles as uploaded |" in section
    assert "Targets (issue 14)" in section
    assert "'crimson' as 'red'" in section
