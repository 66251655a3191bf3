"""What a newcomer reads (command help, config help, the API contract) names features
(near-duplicate search, duration and key-frame matching, text search, recommendations),
not the patents' numbering ("seed 001", "mode 2")."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from vidsearch.cli import build_parser
from vidsearch.config import VidsearchConfig

INTERNAL = re.compile(r"(?i)\bseed 0\d\d\b|\bmodes? [123]\b")
PROTO = Path(__file__).resolve().parents[2] / "protos" / "vidsearch" / "v1" / "vidsearch.proto"
NOT_CHECKED: set[str] = set()  # every command, training included


def _helps(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, str]]:
    yield path, parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if name not in NOT_CHECKED:
                    yield from _helps(sub, f"{path} {name}")


def _descriptions(model: type[BaseModel], path: str) -> Iterator[tuple[str, str]]:
    yield path, model.__doc__ or ""
    for name, info in model.model_fields.items():
        yield f"{path}.{name}", info.description or ""
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from _descriptions(kind, f"{path}.{name}")


def test_command_help_names_features() -> None:
    helps = dict(_helps(build_parser(), "vidsearch"))
    assert "vidsearch search" in helps and "vidsearch serve" in helps  # the walk reached them
    assert "near-duplicate search" in helps["vidsearch search"]
    bad = {path: INTERNAL.findall(text) for path, text in helps.items() if INTERNAL.search(text)}
    assert not bad


def test_config_help_names_features() -> None:
    described = dict(_descriptions(VidsearchConfig, "config"))
    assert "near-duplicate search" in described["config.search.mode"]
    bad = {path: text for path, text in described.items() if INTERNAL.search(text)}
    assert not bad


def test_proto_comments_name_features() -> None:
    proto = PROTO.read_text()
    assert not INTERNAL.findall(proto)
    # the search modes keep their wire names; each one's comment says which feature it is
    enum = proto[proto.index("enum SearchMode") :]
    values = enum[: enum.index("}")].split(";\n")  # each piece: a value's comment, then it
    for piece, (feature, value) in zip(values[1:], (
        ("Near-duplicate search", "SEARCH_MODE_TEXTURE = 1"),
        ("Duration matching", "SEARCH_MODE_DURATION = 2"),
        ("Key-frame matching", "SEARCH_MODE_KEYFRAME = 3"),
    ), strict=False):
        assert feature in piece and piece.rstrip().endswith(value)
