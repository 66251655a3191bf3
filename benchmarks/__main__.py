"""Run benchmarks and write their sections of BENCHMARKS.md.

    python -m benchmarks [--scenario configs/bench/release.yaml] [--sections catalog,load]
        [--catalog.sizes 10000,100000] [--help]

Defaults < the scenario (YAML under configs/bench/) < the command line. Each section is
written between ``<!-- bench:NAME -->`` markers as soon as it is measured, so the sections
this command does not run (the quality evaluation and the locust load test write their own)
stay as they are; its "Reproduce:" line spells out every option of that section.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, CliApp, PydanticBaseSettingsSource, SettingsConfigDict

from benchmarks.backfill import BackfillBenchConfig
from benchmarks.catalog_search import CatalogBenchConfig
from benchmarks.end_to_end import EndToEndBenchConfig
from benchmarks.inference import InferenceBenchConfig
from benchmarks.load import LoadBenchConfig
from benchmarks.tag_suggest import TagSuggestBenchConfig
from benchmarks.text_search import TextBenchConfig
from vidsearch.evaluation.report import update_section

PROG = "python -m benchmarks"
RELEASE = Path("configs/bench/release.yaml")  # what `make bench` runs and BENCHMARKS.md shows
Section = Literal[
    "catalog", "inference", "end_to_end", "load", "text_search", "backfill", "tag_suggest"
]
SECTIONS = get_args(Section)  # each a field of Benchmarks, its config; its module runs it


class Benchmarks(BaseSettings):
    """Measure and write BENCHMARKS.md sections (catalog search, inference, end to end, load,
    text search, backfill, tag suggestions). Scenario YAML < command-line options; the
    environment is not read."""

    model_config = SettingsConfigDict(
        cli_prog_name=PROG, cli_kebab_case=True, use_attribute_docstrings=True, frozen=True
    )
    scenario: Path = RELEASE
    """YAML of sections and sizes (smoke.yaml: the code defaults, seconds per section)"""
    out: Path = Path("BENCHMARKS.md")
    """markdown file to update"""
    sections: list[Section] = ["catalog", "inference", "end_to_end", "load"]
    """the sections to run, comma-separated"""
    catalog: CatalogBenchConfig = CatalogBenchConfig()
    inference: InferenceBenchConfig = InferenceBenchConfig()
    end_to_end: EndToEndBenchConfig = EndToEndBenchConfig()
    load: LoadBenchConfig = LoadBenchConfig()
    text_search: TextBenchConfig = TextBenchConfig()
    backfill: BackfillBenchConfig = BackfillBenchConfig()
    tag_suggest: TagSuggestBenchConfig = TagSuggestBenchConfig()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:  # fmt: skip
        return (init_settings,)  # no environment; CliApp puts the command line on top

    def write(self, name: str) -> bool:
        """Run one section and write it; on failure, report and leave the section as it was."""
        started, cfg = time.perf_counter(), getattr(self, name)
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        module = sys.modules[type(cfg).__module__]  # run, to_markdown
        try:
            markdown = module.to_markdown(module.run(cfg), reproduce(self.out, name, cfg))
        except Exception:
            traceback.print_exc()
            print(f"[bench] {name} FAILED; its section is left as it was", file=sys.stderr)
            return False
        update_section(self.out, name, markdown)
        seconds = time.perf_counter() - started
        print(f"[bench] {name}: written to {self.out} ({seconds:.0f} s)", file=sys.stderr)
        return True


def cli_value(value: Any) -> str:
    """A value as the command line takes it back (tuples comma-separated)."""
    if isinstance(value, tuple | list):
        return ",".join(cli_value(v) for v in value) if value else "[]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def reproduce(out: Path, name: str, cfg: BaseModel) -> str:
    """The command that reruns section ``name`` as configured, every option spelled out."""
    argv = [*PROG.split(), "--out", str(out), "--sections", name]
    for field, value in cfg:
        if value is not None:
            argv += [f"--{name}.{field}".replace("_", "-"), cli_value(value)]
    return shlex.join(argv)


def parse(argv: list[str]) -> Benchmarks:
    """Defaults < the scenario file (``--scenario``) < the other options."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--scenario", type=Path, default=RELEASE)
    values = yaml.safe_load(pre.parse_known_args(argv)[0].scenario.read_text()) or {}
    return CliApp.run(Benchmarks, cli_args=argv, **values)


def main(argv: list[str] | None = None) -> int:
    try:
        benchmarks = parse(list(sys.argv[1:] if argv is None else argv))
    except ValidationError as exc:  # a value the models reject: say which, no traceback
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    failed = [name for name in benchmarks.sections if not benchmarks.write(name)]
    if failed:
        print(f"[bench] failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
