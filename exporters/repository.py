"""The Triton model repository layout: ``<repo>/<model>/<version>/model.onnx``.

Versions only go up and are never overwritten (unless ``force``): a version number
in a log, a catalog record or a provenance file must always mean the same weights.
A version is written in a hidden staging folder and renamed into place, so a server
scanning the repository never sees half a version.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vidsearch.contract.repository_layout import CONFIG_FILE, MODEL_FILE, version_dir, version_dirs
from vidsearch.contract.triton_config import ModelConfig
from vidsearch.exporters.triton_config import write_config

PROVENANCE_FILE = "provenance.json"


class RepositoryError(RuntimeError):
    """The repository is not laid out as expected or an operation is refused."""


class VersionExistsError(RepositoryError):
    """Writing would replace an existing version (pass ``force=True`` to allow it)."""


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (checkpoints can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def list_models(repository: Path) -> dict[str, list[int]]:
    """``{model: [versions ascending]}`` for every model folder holding a config or a version."""
    if not repository.is_dir():
        return {}
    models: dict[str, list[int]] = {}
    for child in sorted(repository.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        versions = sorted(version_dirs(child))
        if versions or (child / CONFIG_FILE).is_file():
            models[child.name] = versions
    return models


def next_version(repository: Path, model: str) -> int:
    """One more than the highest version folder ever created for ``model`` (1 if none)."""
    return max(version_dirs(repository / model), default=0) + 1


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, target)


def write_model_version(
    repository: Path,
    model: str,
    *,
    onnx_path: Path,
    config: ModelConfig,
    provenance: Mapping[str, Any],
    version: int | None = None,
    force: bool = False,
    extra_files: Mapping[str, str] | None = None,
) -> Path:
    """Add ``onnx_path`` as a version of ``model`` and (re)write its config.pbtxt.

    ``version`` None takes :func:`next_version`. An existing version, or one lower than
    the highest existing version, is refused unless ``force``. ``extra_files`` maps a
    file name to text written next to the model (e.g. the CPU twin's model.py).
    Returns the version folder.
    """
    if config.name != model:
        raise RepositoryError(f"config is named {config.name!r}, not {model!r}")
    model_dir = repository / model
    existing = version_dirs(model_dir)
    chosen = next_version(repository, model) if version is None else version
    if chosen < 1:
        raise RepositoryError(f"versions start at 1, got {chosen}")
    if chosen in existing and not force:
        raise VersionExistsError(
            f"{model} version {chosen} already exists in {repository}; versions are never "
            f"overwritten (export a new version, or pass force=True / --force)"
        )
    if existing and chosen < max(existing) and chosen not in existing and not force:
        raise RepositoryError(
            f"{model} version {chosen} is lower than the latest version {max(existing)}; "
            f"versions only increase"
        )
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = model_dir / f".staging-{chosen}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        _link_or_copy(onnx_path, staging / MODEL_FILE)
        record = dict(provenance)
        record.setdefault("model", model)
        record["version"] = chosen
        (staging / PROVENANCE_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text)
        target = version_dir(repository, model, chosen)
        if target.exists():
            trash = model_dir / f".replaced-{chosen}-{uuid.uuid4().hex[:8]}"
            target.rename(trash)
            staging.rename(target)
            shutil.rmtree(trash)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_config(model_dir / CONFIG_FILE, config)
    return target


def read_provenance(repository: Path, model: str, version: int) -> dict[str, Any]:
    """The provenance record written with a version."""
    path = version_dir(repository, model, version) / PROVENANCE_FILE
    if not path.is_file():
        raise RepositoryError(f"{path} does not exist")
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise RepositoryError(f"{path} does not hold a JSON object")
    return data
