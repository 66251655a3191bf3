"""Embedded backend: ONNX Runtime sessions over a Triton-layout model repository.

The default for one machine: no server to run, same model files and version policy
as Triton. One session per (model, version), created on first use and shared by all
threads (``InferenceSession.run`` is thread-safe). Requests are checked the way Triton
checks them (names, dtypes, batch size), so callers see the same errors either way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from vidsearch.inference.base import (
    InferenceError,
    InferenceTimeoutError,
    ModelSignature,
    TensorSpec,
)
from vidsearch.inference.repository import RepositoryView

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def gpu_present() -> bool:
    """An NVIDIA device node exists and CUDA_VISIBLE_DEVICES does not hide it."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return any(Path("/dev").glob("nvidia[0-9]*"))


def default_providers() -> list[str]:
    """CUDA first only when both the build and the machine have it (else ORT logs errors)."""
    if CUDA in ort.get_available_providers() and gpu_present():
        return [CUDA, CPU]
    return [CPU]


def _spec(arg: ort.NodeArg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
    return TensorSpec(arg.name, _ORT_TYPES.get(arg.type, arg.type), shape)


class OnnxRuntimeBackend:
    """InferenceBackend over ``repository`` (``<model>/<version>/model.onnx``)."""

    def __init__(
        self,
        repository: Path,
        providers: Sequence[str] | None = None,
        *,
        default_version: int | None = None,
        intra_op_threads: int = 0,
    ) -> None:
        chosen = list(providers) if providers else default_providers()
        missing = [p for p in chosen if p not in ort.get_available_providers()]
        if missing:
            raise ValueError(
                f"ONNX Runtime providers {missing} are not available "
                f"(available: {ort.get_available_providers()})"
            )
        self.providers = chosen
        self.default_version = default_version
        self._threads = intra_op_threads
        self._view = RepositoryView(Path(repository))
        self._sessions: dict[tuple[str, int], ort.InferenceSession] = {}
        self._lock = threading.Lock()

    # ---- sessions -----------------------------------------------------------------
    def _session(self, model: str, version: int | None) -> tuple[int, ort.InferenceSession, int]:
        """(version, session, max_batch_size) for a request."""
        wanted = version if version is not None else self.default_version
        chosen, path, served = self._view.resolve(model, wanted)
        key = (model, chosen)
        session = self._sessions.get(key)
        if session is None:
            with self._lock:  # one session per key even under concurrent first calls
                session = self._sessions.get(key)
                if session is None:
                    options = ort.SessionOptions()
                    options.intra_op_num_threads = self._threads
                    try:
                        session = ort.InferenceSession(
                            str(path), sess_options=options, providers=self.providers
                        )
                    except Exception as exc:  # corrupt or unsupported file
                        raise InferenceError(f"cannot load {model} v{chosen}: {exc}") from exc
                    self._sessions[key] = session
        max_batch = served.config.max_batch_size if served.config else 0
        return chosen, session, max_batch

    # ---- InferenceBackend ---------------------------------------------------------
    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        chosen, session, max_batch = self._session(model, version)
        feed = self._check_inputs(model, chosen, session, inputs, max_batch)
        options = ort.RunOptions()
        timer: threading.Timer | None = None
        if timeout is not None:
            # ORT has no deadline; the terminate flag aborts a running session.run.
            timer = threading.Timer(timeout, setattr, (options, "terminate", True))
            timer.daemon = True
            timer.start()
        names = [o.name for o in session.get_outputs()]
        try:
            outputs = session.run(names, feed, options)
        except Exception as exc:
            if timer is not None and options.terminate:
                raise InferenceTimeoutError(
                    f"{model} v{chosen} did not finish within {timeout} s"
                ) from exc
            raise InferenceError(f"{model} v{chosen} failed: {exc}") from exc
        finally:
            if timer is not None:
                timer.cancel()
        return dict(zip(names, outputs, strict=True))

    @staticmethod
    def _check_inputs(
        model: str,
        version: int,
        session: ort.InferenceSession,
        inputs: Mapping[str, np.ndarray],
        max_batch: int,
    ) -> dict[str, np.ndarray]:
        specs = {arg.name: _spec(arg) for arg in session.get_inputs()}
        if set(inputs) != set(specs):
            raise InferenceError(
                f"{model} v{version} takes inputs {sorted(specs)}, got {sorted(inputs)}"
            )
        feed: dict[str, np.ndarray] = {}
        for name, spec in specs.items():
            array = np.asarray(inputs[name])
            if array.dtype.name != spec.dtype:
                raise InferenceError(
                    f"{model} v{version} input {name!r} must be {spec.dtype}, got {array.dtype}"
                )
            if len(array.shape) != len(spec.shape) or any(
                want not in (-1, got) for want, got in zip(spec.shape, array.shape, strict=True)
            ):
                raise InferenceError(
                    f"{model} v{version} input {name!r} has shape {list(array.shape)}, "
                    f"expected {list(spec.shape)}"
                )
            if max_batch and array.shape[0] > max_batch:
                raise InferenceError(
                    f"{model} v{version} input {name!r} batch {array.shape[0]} exceeds "
                    f"max_batch_size {max_batch}"
                )
            feed[name] = np.ascontiguousarray(array)
        return feed

    def model_versions(self, model: str) -> list[int]:
        return sorted(self._view.get(model).versions)

    def signature(self, model: str, version: int | None = None) -> ModelSignature:
        chosen, session, _ = self._session(model, version)
        return ModelSignature(
            name=model,
            version=chosen,
            inputs=tuple(_spec(a) for a in session.get_inputs()),
            outputs=tuple(_spec(a) for a in session.get_outputs()),
        )

    def refresh(self) -> None:
        """Rescan the repository now (new versions; Triton needs a model reload instead)."""
        self._view.refresh()

    def session_count(self) -> int:
        return len(self._sessions)

    def is_ready(self) -> bool:
        return bool(self._view.models()) or bool(self._view.refresh())

    def close(self) -> None:
        with self._lock:
            self._sessions.clear()

    def __repr__(self) -> str:
        return f"OnnxRuntimeBackend({str(self._view.root)!r}, providers={self.providers})"
