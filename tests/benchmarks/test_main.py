"""`python -m benchmarks` writes its section between markers and leaves the others alone."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from pydantic import ValidationError

from benchmarks.__main__ import SECTIONS, Benchmarks, main, parse
from vidsearch.evaluation.report import read_section, section_names

QUALITY = "<!-- bench:quality -->\n## Quality\nkept as is\n<!-- /bench:quality -->\n"


def test_catalog_section_written_and_others_preserved(tmp_path: Path) -> None:
    pytest.importorskip("faiss", reason="faiss-cpu (the bench extra) is not installed")
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n" + QUALITY)
    argv = [
        "--out", str(out), "--sections", "catalog", "--catalog.sizes", "200",
        "--catalog.queries", "3", "--catalog.max-hamming", "40", "--catalog.texture-dim", "16",
        "--catalog.api-videos", "0", "--catalog.families", "3",
    ]  # fmt: skip
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
        f"Reproduce: `python -m benchmarks --out {out} --sections catalog "
        f"--catalog.sizes 200 --catalog.queries 3 --catalog.warmup {parse([]).catalog.warmup} "
        "--catalog.max-hamming 40 "  # the warm-up comes from the release scenario
    )
    assert "--catalog.texture-dim 16" in reproduce and "--catalog.api-videos 0" in reproduce
    assert any(line.startswith("| 200 | 40 |") for line in lines)


def test_scenarios_and_options(tmp_path: Path) -> None:
    release = parse([])  # configs/bench/release.yaml: what `make bench` runs
    assert release.sections == ["catalog", "inference", "end_to_end", "load"]
    assert release.catalog.sizes == (10_000, 100_000, 300_000, 1_000_000)
    assert release.end_to_end.media_dir == Path("var/bench-media")
    quick = parse(["--scenario", "configs/bench/quick.yaml", "--catalog.queries", "7"])
    assert quick.catalog.sizes == (10_000, 100_000)
    assert quick.catalog.queries == 7  # the command line wins over the scenario
    assert quick.catalog.texture_dim == release.catalog.texture_dim  # left to the defaults
    smoke = parse(["--scenario", "configs/bench/smoke.yaml"])
    assert smoke.catalog == Benchmarks.model_fields["catalog"].default
    for path in Path("configs/bench").glob("*.yaml"):  # every scenario names real sections
        assert set(parse(["--scenario", str(path)]).sections) <= set(SECTIONS)
    with pytest.raises(ValidationError, match="sections"):
        parse(["--sections", "quality"])  # written by `vidsearch eval`, not here
    assert main(["--sections", "catalog,quality", "--out", str(tmp_path / "B.md")]) == 2
    assert not (tmp_path / "B.md").exists()
    with pytest.raises(SystemExit):
        parse(["--catalog.no-such-option", "1"])


def test_published_reproduce_lines_parse() -> None:
    """Every section this command writes names a command it still accepts."""
    for name in SECTIONS:
        body = read_section("BENCHMARKS.md", name)
        assert body is not None, name
        command = body.splitlines()[2].removeprefix("Reproduce: `").removesuffix("`")
        prog, argv = shlex.split(command)[:3], shlex.split(command)[3:]
        assert prog == ["python", "-m", "benchmarks"]
        assert parse(argv).sections == [name]
