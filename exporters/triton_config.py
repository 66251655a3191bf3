"""Writing config.pbtxt files; the config model itself is ``vidsearch.contract.triton_config``
(the embedded backend reads the same files, so it lives below both)."""

from __future__ import annotations

from pathlib import Path

from vidsearch.contract.triton_config import ModelConfig, read_config, to_pbtxt

__all__ = ["read_config", "write_config"]


def write_config(path: Path, config: ModelConfig) -> None:
    """Write atomically so a server never reads a half-written config."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(to_pbtxt(config))
    tmp.replace(path)
