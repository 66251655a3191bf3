"""Load-test scenario: task weights, media and run settings (YAML file + environment).

Defaults live in ``loadtest/scenario.yaml``; ``LOADTEST_SCENARIO`` names another file, and
``LOADTEST_<KEY>`` environment variables override single keys (``LOADTEST_WEIGHT_SEARCH=3``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi"}


@dataclass(frozen=True)
class Scenario:
    weight_search: int = 3  # SearchByVideo
    weight_index: int = 1  # IndexVideo
    weight_text: int = 1  # SearchByText
    weight_tags: int = 1  # SuggestTags for a video this user indexed (no decode)
    texts: str = "loadtest/text_queries.txt"  # SearchByText sentences, one per line
    tags: str = "loadtest/tags.txt"  # the tag library each user upserts before SuggestTags
    text_candidates: int = 50  # stage 2 candidates N
    queries: str = "var/sample/queries"  # query files for SearchByVideo
    references: str = "var/sample/references"  # files uploaded by IndexVideo
    index_prefix: str = "loadtest"  # ids: <prefix>-<user>-<n>, deleted when a user stops
    cleanup: bool = True  # delete what IndexVideo added (keeps a real catalog clean)
    top_k: int = 10
    timeout_s: float = 120.0
    wait_min_s: float = 0.0  # think time between tasks of one user
    wait_max_s: float = 0.5

    def media(self, which: str) -> list[Path]:
        folder = Path(getattr(self, which))
        if not folder.is_dir():
            raise FileNotFoundError(f"{which}: {folder} is not a directory (run `make sample`)")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"{which}: no video files in {folder}")
        return files

    def lines(self, which: str = "texts") -> list[str]:
        """The non-empty, non-comment lines of the file named by ``which`` (texts, tags)."""
        path = Path(getattr(self, which))
        if not path.is_file():
            raise FileNotFoundError(f"{which}: {path} is not a file of lines")
        lines = [line.strip() for line in path.read_text().splitlines()]
        found = [line for line in lines if line and not line.startswith("#")]
        if not found:
            raise FileNotFoundError(f"{which}: no line in {path}")
        return found


def _coerce(kind: type | str, raw: object) -> object:
    kind = {"int": int, "float": float, "bool": bool, "str": str}.get(str(kind), kind)
    if kind is bool and isinstance(raw, str):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return kind(raw)  # type: ignore[operator]


def load_scenario(path: str | os.PathLike[str] | None = None) -> Scenario:
    path = path or os.environ.get("LOADTEST_SCENARIO") or HERE / "scenario.yaml"
    data = yaml.safe_load(Path(path).read_text()) or {}
    known = {f.name: f.type for f in fields(Scenario)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    for name in known:
        env = os.environ.get(f"LOADTEST_{name.upper()}")
        if env is not None:
            data[name] = env
    values = {k: _coerce(known[k], v) for k, v in data.items()}
    scenario = Scenario(**values)  # type: ignore[arg-type]
    weights = (scenario.weight_search, scenario.weight_index, scenario.weight_text,
               scenario.weight_tags)  # fmt: skip
    if min(weights) < 0:
        raise ValueError("weights must be >= 0")
    if sum(weights) == 0:
        raise ValueError("every task weight is 0")
    return scenario
