"""bench.run writes its section between markers and leaves the others alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidsearch.bench.report import read_section, section_names
from vidsearch.bench.run import build_parser, main

QUALITY = "<!-- bench:quality -->\n## Quality\nkept as is\n<!-- /bench:quality -->\n"


def test_catalog_section_written_and_others_preserved(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n" + QUALITY)
    argv = [
        "--out",
        str(out),
        "--sections",
        "catalog",
        "--catalog-sizes",
        "200",
        "--catalog-queries",
        "3",
        "--catalog-max-hamming",
        "40",
        "--catalog-texture-dim",
        "16",
        "--catalog-api-videos",
        "0",
    ]
    assert main(argv) == 0
    assert main(argv) == 0  # rerun replaces, never duplicates
    text = out.read_text()
    assert section_names(text) == ["quality", "catalog"]
    assert QUALITY in text
    body = read_section(out, "catalog")
    assert body is not None
    lines = body.splitlines()
    assert lines[0].startswith("## Catalog search")
    reproduce = lines[2]
    assert reproduce.startswith(
        f"Reproduce: `python -m vidsearch.bench.run --out {out} --sections catalog "
        "--catalog-sizes 200 --catalog-queries 3 --catalog-max-hamming 40"
    )
    assert "--catalog-texture-dim 16" in reproduce
    assert any(line.startswith("| 200 | 40 |") for line in lines)


def test_quick_defaults_and_unknown_section() -> None:
    args = build_parser(quick=True).parse_args(["--quick", "--catalog-queries", "7"])
    assert args.catalog_sizes == (10_000, 100_000)
    assert args.catalog_queries == 7  # explicit options win over --quick
    assert args.sections == ["catalog", "inference", "end_to_end", "load"]
    full = build_parser().parse_args([])
    assert full.catalog_sizes == (10_000, 100_000, 1_000_000)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--sections", "quality"])
