"""The inference interface every backend implements (embedded ONNX Runtime or Triton).

The orchestrator only sees this protocol, so moving from one machine to a Triton
cluster is a config change, not a code change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


class InferenceError(RuntimeError):
    """Base class: inference failed for a reason the caller may report."""


class ModelNotFoundError(InferenceError):
    """The model or the requested version is not served."""


class BackendUnavailableError(InferenceError):
    """The backend cannot be reached now; retrying later may succeed."""


class InferenceTimeoutError(BackendUnavailableError):
    """The backend did not answer within the deadline."""


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype and shape of one model input or output (-1 = dynamic)."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelSignature:
    """What a served model takes and returns."""

    name: str
    version: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


@runtime_checkable
class InferenceBackend(Protocol):
    """Runs a named, versioned model on numpy tensors."""

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Run ``model`` (latest version if ``version`` is None) and return its outputs."""
        ...

    def model_versions(self, model: str) -> list[int]:
        """Versions of ``model`` ready to serve, ascending."""
        ...

    def signature(self, model: str, version: int | None = None) -> ModelSignature:
        """Inputs and outputs of a served model."""
        ...

    def is_ready(self) -> bool:
        """True when the backend can serve requests now."""
        ...

    def close(self) -> None:
        """Release connections and sessions."""
        ...
