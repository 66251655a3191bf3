"""Run benchmarks and write their sections of BENCHMARKS.md.

    python -m vidsearch.bench.run --out BENCHMARKS.md [--sections catalog,inference] [--quick]

Each section is written as soon as its benchmark finishes, between
``<!-- bench:NAME -->`` markers (``report.update_section``); sections this command does
not run (the quality evaluation and load tests write their own) stay as
they are. A section's first line is the exact command that reproduces it, with every
option spelled out. ``--quick`` shrinks the defaults (catalog 10k and 100k points,
fewer queries, iterations, references and searches) for a first look; explicit options
still win.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vidsearch.bench import catalog_search, end_to_end, inference, load
from vidsearch.bench.report import update_section

PROG = "python -m vidsearch.bench.run"


@dataclass(frozen=True)
class Section:
    name: str
    prefix: str  # option prefix inside this command
    add_arguments: Callable[[argparse.ArgumentParser, str], None]
    run: Callable[[argparse.Namespace, str, str], str]  # (args, prefix, out) -> markdown
    quick: dict[str, object]  # argparse dests -> defaults under --quick


def _run_catalog(args: argparse.Namespace, prefix: str, out: str) -> str:
    cfg = catalog_search.config_from_args(args, prefix)
    command = shlex.join(
        [
            *PROG.split(),
            "--out",
            out,
            "--sections",
            "catalog",
            *catalog_search.config_argv(cfg, prefix),
        ]
    )
    return catalog_search.to_markdown(catalog_search.run_catalog_bench(cfg), command)


def _run_inference(args: argparse.Namespace, prefix: str, out: str) -> str:
    cfg = inference.config_from_args(args, prefix)
    command = shlex.join(
        [
            *PROG.split(),
            "--out",
            out,
            "--sections",
            "inference",
            *inference.config_argv(cfg, prefix),
        ]
    )
    return inference.to_markdown(inference.run_inference_bench(cfg), command)


def _run_end_to_end(args: argparse.Namespace, prefix: str, out: str) -> str:
    cfg = end_to_end.config_from_args(args, prefix)
    command = shlex.join(
        [
            *PROG.split(),
            "--out",
            out,
            "--sections",
            "end_to_end",
            *end_to_end.config_argv(cfg, prefix),
        ]
    )
    return end_to_end.to_markdown(end_to_end.run_end_to_end_bench(cfg), command)


def _run_load(args: argparse.Namespace, prefix: str, out: str) -> str:
    cfg = load.config_from_args(args, prefix)
    command = shlex.join(
        [*PROG.split(), "--out", out, "--sections", "load", *load.config_argv(cfg, prefix)]
    )
    return load.to_markdown(load.run_load_bench(cfg), command)


SECTIONS: dict[str, Section] = {
    catalog_search.SECTION: Section(
        catalog_search.SECTION,
        "catalog-",
        catalog_search.add_arguments,
        _run_catalog,
        {
            "catalog_sizes": (10_000, 100_000),
            "catalog_queries": 50,
            "catalog_api_videos": 30,
        },
    ),
    inference.SECTION: Section(
        inference.SECTION,
        "inference-",
        inference.add_arguments,
        _run_inference,
        {"inference_iterations": 20, "inference_perf_window_ms": 1500},
    ),
    end_to_end.SECTION: Section(
        end_to_end.SECTION,
        "e2e-",
        end_to_end.add_arguments,
        _run_end_to_end,
        {"e2e_references": 8, "e2e_searches": 10},
    ),
    load.SECTION: Section(
        load.SECTION,
        "load-",
        load.add_arguments,
        _run_load,
        {"load_duration": 8.0, "load_references": 2},
    ),
}


def _sections(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown sections {unknown}; this command runs {sorted(SECTIONS)} "
            f"(other sections are written by their own tools)"
        )
    if not names:
        raise argparse.ArgumentTypeError("no section named")
    return names


def build_parser(quick: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="BENCHMARKS.md", help="markdown file to update")
    parser.add_argument(
        "--sections",
        type=_sections,
        default=list(SECTIONS),
        help=f"comma-separated, of {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes for a first look")
    for section in SECTIONS.values():
        section.add_arguments(parser, section.prefix)
        if quick:
            parser.set_defaults(**section.quick)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--quick", action="store_true")
    known, _ = pre.parse_known_args(argv)
    args = build_parser(quick=known.quick).parse_args(argv)
    failed = []
    for name in args.sections:
        section = SECTIONS[name]
        started = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            markdown = section.run(args, section.prefix, args.out)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            print(f"[bench] {name} FAILED; its section is left as it was", file=sys.stderr)
            continue
        update_section(Path(args.out), name, markdown)
        print(
            f"[bench] {name}: written to {args.out} ({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
