"""Read a Triton-layout model repository the way Triton would serve it.

The embedded ONNX Runtime backend serves the same folder as a Triton deployment, with
the same version policy from each config.pbtxt, so switching backends never changes
which versions answer.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vidsearch.contract.repository_layout import CONFIG_FILE, MODEL_FILE, version_dirs
from vidsearch.contract.triton_config import ConfigError, ModelConfig, read_config
from vidsearch.inference.base import InferenceError, ModelNotFoundError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepositoryModel:
    """One model folder: its config (None when absent) and the versions it serves."""

    name: str
    config: ModelConfig | None
    versions: dict[int, Path]  # version -> model.onnx, only those the policy serves


def scan_model(model_dir: Path) -> RepositoryModel:
    """Versions with a model.onnx, filtered by the config's version policy."""
    config_path = model_dir / CONFIG_FILE
    try:
        config = read_config(config_path) if config_path.is_file() else None
    except ConfigError as exc:
        raise InferenceError(str(exc)) from exc
    present = {
        v: folder / MODEL_FILE
        for v, folder in version_dirs(model_dir).items()
        if (folder / MODEL_FILE).is_file()
    }
    policy = config.effective_version_policy() if config else None
    served = policy.select(present) if policy else sorted(present)[-1:]
    return RepositoryModel(model_dir.name, config, {v: present[v] for v in served})


class RepositoryView:
    """Cached scan of a repository; rescans (at most once a second) on a miss."""

    def __init__(self, root: Path, *, rescan_interval_s: float = 1.0) -> None:
        self.root = Path(root)
        self._interval = rescan_interval_s
        self._lock = threading.Lock()
        self._models: dict[str, RepositoryModel] = {}
        self._scanned_at = float("-inf")
        self.refresh()

    def refresh(self) -> dict[str, RepositoryModel]:
        """Rescan the folder now."""
        models: dict[str, RepositoryModel] = {}
        if self.root.is_dir():
            for child in sorted(self.root.iterdir()):
                if child.is_dir() and not child.name.startswith("."):
                    served = scan_model(child)
                    if served.versions or served.config is not None:
                        models[child.name] = served
        with self._lock:
            self._models = models
            self._scanned_at = time.monotonic()
        return models

    def models(self) -> dict[str, RepositoryModel]:
        with self._lock:
            return dict(self._models)

    def get(self, model: str) -> RepositoryModel:
        """The served model, rescanning once if it is unknown."""
        found = self.models().get(model)
        if found is None and time.monotonic() - self._scanned_at >= self._interval:
            found = self.refresh().get(model)
        if found is None:
            log.debug("model %r is not in repository %s", model, self.root)
            raise ModelNotFoundError(f"model {model!r} is not in the model repository")
        return found

    def resolve(self, model: str, version: int | None) -> tuple[int, Path, RepositoryModel]:
        """(version, model.onnx path, model) for a request; latest when ``version`` is None."""
        served = self.get(model)
        stale = time.monotonic() - self._scanned_at >= self._interval
        if version is not None and version not in served.versions and stale:
            served = self.refresh().get(model, served)
        if not served.versions:
            log.debug("model %r has no servable version in %s", model, self.root)
            raise ModelNotFoundError(f"model {model!r} has no servable version")
        chosen = max(served.versions) if version is None else version
        if chosen not in served.versions:
            raise ModelNotFoundError(
                f"version {chosen} of model {model!r} is not served "
                f"(serving {sorted(served.versions)})"
            )
        return chosen, served.versions[chosen], served
