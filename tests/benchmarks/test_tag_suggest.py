"""Smallest tag-suggestion benchmark: the starter tag models served in process, a library of
200 tags through UpsertTags, SuggestTags timed beside the numpy brute force."""

from __future__ import annotations

import math
import shlex
from pathlib import Path

import numpy as np
import pytest

from benchmarks.__main__ import parse, reproduce
from benchmarks.tag_suggest import TagSuggestBenchConfig, brute_force, run, tag_texts, to_markdown

STARTER = Path(__file__).resolve().parents[2] / "models" / "starter"
COMMAND = "python -m benchmarks --out B.md --sections tag_suggest"


def test_generated_tags_are_distinct_and_brute_force_ranks_by_cosine() -> None:
    texts = tag_texts(10_000, seed=0)
    assert len(set(texts)) == 10_000 and all(0 < len(t) <= 100 for t in texts)
    with pytest.raises(ValueError, match="at most"):
        tag_texts(10**6, seed=0)
    matrix = np.eye(4, dtype=np.float32)[[2, 0, 3, 1]]  # rows: e2, e0, e3, e1
    query = np.array([0.1, 0.7, 0.2, 0.6], dtype=np.float32)  # cosines 0.2, 0.1, 0.6, 0.7
    assert brute_force(matrix, query, 2).tolist() == [3, 2]
    assert brute_force(matrix, query, 4).tolist() == [3, 2, 0, 1]


@pytest.mark.timeout(600)
def test_smallest_tag_suggest_bench(tmp_path: Path) -> None:
    cfg = TagSuggestBenchConfig(checkpoints=STARTER, library_size=200, batch=64, searches=10,
                                warmup=2, work_dir=tmp_path)  # fmt: skip
    result = run(cfg, log=lambda _: None)
    assert not result.placeholder and result.dim > 0 and result.fill_s > 0
    assert len(result.served_ms) == len(result.brute_ms) == 10
    assert result.p("served", 95) > 0 and result.p("brute", 95) > 0
    assert {"stored_tag_feature", "nearest_tags"} <= set(result.stages_ms)
    assert result.agree == 10  # the server's exact scans and the brute force rank alike
    assert result.scenes == 8 and result.scene_weight > 0  # ... scoring scenes as served
    markdown = to_markdown(result, COMMAND)
    assert f"Reproduce: `{COMMAND}`" in markdown
    assert "SuggestTags p95 < 20 ms with 10,000 tags: not measured here" in markdown
    ratio = next(line for line in markdown.splitlines() if "served / brute force" in line)
    assert all(math.isfinite(float(x)) for x in ratio.replace("x", "").split("|")[2:4])
    assert "—" not in markdown


def test_tag_suggest_in_the_release_scenario() -> None:
    cfg = TagSuggestBenchConfig(library_size=300, searches=7, tag_models=False)
    argv = shlex.split(reproduce(Path("B.md"), "tag_suggest", cfg))[3:]
    assert parse(argv).tag_suggest == cfg
    release = parse([]).tag_suggest
    assert (release.library_size, release.searches, release.top_k) == (10_000, 200, 10)
