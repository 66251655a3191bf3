"""update_section keeps every other section byte for byte; tables and headers are well formed."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsearch.evaluation.report import (
    SectionError,
    machine_info,
    md_table,
    percentile,
    read_section,
    section_header,
    section_names,
    update_section,
)

OTHERS = (
    "# Benchmarks\n\nHand-written intro.\n\n"
    "<!-- bench:quality -->\n## Quality\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    "<!-- /bench:quality -->\n\n"
    "Some note between sections.\n\n"
    "<!-- bench:load -->\n## Load\ntext\n<!-- /bench:load -->\n"
)


def test_creates_file_with_preamble(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "BENCHMARKS.md"
    update_section(out, "catalog", "## Catalog\n\nbody\n")
    text = out.read_text()
    assert text.startswith("# Benchmarks")
    assert "<!-- bench:catalog -->\n## Catalog\n\nbody\n<!-- /bench:catalog -->" in text
    assert read_section(out, "catalog") == "## Catalog\n\nbody"


def test_replaces_one_section_and_preserves_the_others(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text(OTHERS)
    update_section(out, "inference", "## Inference\nv1")
    first = out.read_text()
    assert first.startswith(OTHERS.rstrip("\n"))  # appended after everything else
    update_section(out, "inference", "## Inference\nv2")
    update_section(out, "quality", "## Quality\nnew")
    text = out.read_text()
    assert section_names(text) == ["quality", "load", "inference"]
    assert read_section(out, "inference") == "## Inference\nv2"
    assert read_section(out, "quality") == "## Quality\nnew"
    assert read_section(out, "load") == "## Load\ntext"
    assert "Hand-written intro." in text and "Some note between sections." in text
    assert text.count("<!-- bench:inference -->") == 1
    # Rewriting the same content is a no-op on the bytes.
    update_section(out, "quality", "## Quality\nnew")
    assert out.read_text() == text


def test_rejects_bad_names_and_broken_markers(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    with pytest.raises(SectionError):
        update_section(out, "Bad Name", "x")
    with pytest.raises(SectionError):
        update_section(out, "x", "<!-- bench:x -->")
    out.write_text("<!-- bench:x -->\na\n<!-- bench:x -->\n")
    with pytest.raises(SectionError):
        update_section(out, "x", "y")
    assert read_section(tmp_path / "missing.md", "x") is None


def test_table_header_and_percentile() -> None:
    table = md_table(["a", "b"], [[1, "x|y"], [2.5, None]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | x\\|y |", "| 2.5 | None |"]
    with pytest.raises(ValueError):
        md_table(["a"], [[1, 2]])
    assert percentile([3, 1, 2], 50) == 2
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10
    machine = machine_info()
    assert machine.nproc >= 1
    header = section_header("T", "python -m x --y 1", machine)
    assert header.startswith("## T\n\nReproduce: `python -m x --y 1`\n")
    assert "load average at start" in header and f"{machine.nproc} CPUs" in header
