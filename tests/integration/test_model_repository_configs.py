"""The tracked ``model_repository/*/config.pbtxt`` are what the exporter writes for the
committed starter checkpoints, byte for byte: `make export` rewrites them in place, so
any difference would show up as a modified file after `make run`."""

from __future__ import annotations

from pathlib import Path

from vidsearch.contract.models import MODELS
from vidsearch.contract.repository_layout import CONFIG_FILE

TRACKED = Path(__file__).resolve().parents[2] / "model_repository"


def test_tracked_configs_match_the_export(release_repository: Path) -> None:
    exported = {p.parent.name: p for p in release_repository.glob(f"*/{CONFIG_FILE}")}
    tracked = {p.parent.name: p for p in TRACKED.glob(f"*/{CONFIG_FILE}")}
    assert sorted(tracked) == sorted(exported) == sorted(MODELS)
    for model, path in sorted(tracked.items()):
        assert path.read_text() == exported[model].read_text(), (
            f"{path} differs from the exporter's config: re-export and copy it"
        )
