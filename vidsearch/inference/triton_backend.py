"""Remote backend: a Triton Inference Server over gRPC.

Signatures come from the server's model metadata and versions from its repository
index (only READY versions count), so the orchestrator sees exactly what the server
serves. Every call carries a deadline; gRPC status codes become the error types of
``vidsearch.inference.base`` so callers never handle tritonclient exceptions.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype, triton_to_np_dtype

from vidsearch.inference.base import (
    BackendUnavailableError,
    InferenceError,
    InferenceTimeoutError,
    ModelNotFoundError,
    ModelSignature,
    TensorSpec,
)

_NOT_FOUND = ("StatusCode.NOT_FOUND",)
_UNAVAILABLE = ("StatusCode.UNAVAILABLE", "StatusCode.CANCELLED", "StatusCode.RESOURCE_EXHAUSTED")
_TIMEOUT = ("StatusCode.DEADLINE_EXCEEDED",)


def map_error(exc: InferenceServerException, what: str) -> InferenceError:
    """tritonclient exception -> vidsearch error type (by gRPC status)."""
    status = str(exc.status() or "")
    message = f"{what}: {exc.message()}"
    if status in _TIMEOUT:
        return InferenceTimeoutError(message)
    if status in _NOT_FOUND or "unknown model" in (exc.message() or ""):
        return ModelNotFoundError(message)
    if status in _UNAVAILABLE:
        return BackendUnavailableError(message)
    return InferenceError(f"{message} ({status or 'no status'})")


def _numpy_dtype(datatype: str) -> str:
    """Triton's ``FP32`` -> ``float32`` (unknown names are kept as they are)."""
    found = triton_to_np_dtype(datatype)
    return datatype if found is None else np.dtype(found).name


class TritonBackend:
    """InferenceBackend talking to tritonserver at ``url`` (``host:grpc_port``)."""

    def __init__(
        self,
        url: str,
        timeout: float | None = 30.0,
        *,
        default_version: int | None = None,
        tls_ca_file: Path | None = None,
        tls_cert_file: Path | None = None,
        tls_key_file: Path | None = None,
    ) -> None:
        """``tls_ca_file``: TLS to a Triton started with ``--grpc-use-ssl``, verified with this
        CA; ``tls_cert_file`` + ``tls_key_file``: the client's certificate (mutual TLS)."""
        self.url = url
        self.timeout = timeout
        self.default_version = default_version
        tls: dict[str, Any] = {}
        if tls_ca_file is not None:
            for path in (tls_ca_file, tls_cert_file, tls_key_file):
                if path is not None and not Path(path).is_file():
                    raise InferenceError(f"Triton TLS file {path} does not exist")
            tls = {
                "ssl": True,
                "root_certificates": str(tls_ca_file),
                "private_key": str(tls_key_file) if tls_key_file else None,
                "certificate_chain": str(tls_cert_file) if tls_cert_file else None,
            }
        self.tls = tls_ca_file is not None
        self._client = grpcclient.InferenceServerClient(url, **tls)
        self._signatures: dict[tuple[str, int], ModelSignature] = {}
        self._lock = threading.Lock()

    def _deadline(self, timeout: float | None) -> float | None:
        return timeout if timeout is not None else self.timeout

    def _call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except InferenceServerException as exc:
            raise map_error(exc, what) from exc

    # ---- InferenceBackend ---------------------------------------------------------
    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        wanted = version if version is not None else self.default_version
        request = []
        for name, value in inputs.items():
            array = np.ascontiguousarray(value)
            datatype = np_to_triton_dtype(array.dtype)
            if datatype is None:
                raise InferenceError(f"{model}: input {name!r} has unsupported dtype {array.dtype}")
            tensor = grpcclient.InferInput(name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)
            request.append(tensor)
        result = self._call(
            f"infer {model} v{wanted if wanted is not None else 'latest'}",
            self._client.infer,
            model,
            request,
            model_version="" if wanted is None else str(wanted),
            client_timeout=self._deadline(timeout),
        )
        return {o.name: result.as_numpy(o.name) for o in result.get_response().outputs}

    def model_versions(self, model: str) -> list[int]:
        index = self._call(
            "repository index",
            self._client.get_model_repository_index,
            client_timeout=self._deadline(None),
        )
        entries = [m for m in index.models if m.name == model]
        if not entries:
            raise ModelNotFoundError(f"model {model!r} is not in the server's repository")
        return sorted(int(m.version) for m in entries if m.state == "READY" and m.version)

    def signature(self, model: str, version: int | None = None) -> ModelSignature:
        wanted = version if version is not None else self.default_version
        if wanted is None:
            versions = self.model_versions(model)
            if not versions:
                raise ModelNotFoundError(f"model {model!r} has no ready version")
            wanted = versions[-1]
        key = (model, wanted)
        cached = self._signatures.get(key)
        if cached is not None:  # a version's signature never changes
            return cached
        meta = self._call(
            f"metadata {model} v{wanted}",
            self._client.get_model_metadata,
            model,
            model_version=str(wanted),
            client_timeout=self._deadline(None),
        )

        def specs(items: Any) -> tuple[TensorSpec, ...]:
            return tuple(
                TensorSpec(t.name, _numpy_dtype(t.datatype), tuple(int(d) for d in t.shape))
                for t in items
            )

        signature = ModelSignature(model, wanted, specs(meta.inputs), specs(meta.outputs))
        with self._lock:
            self._signatures[key] = signature
        return signature

    def is_ready(self) -> bool:
        try:
            return bool(self._client.is_server_ready(client_timeout=self._deadline(None)))
        except InferenceServerException:
            return False

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"TritonBackend({self.url!r}, timeout={self.timeout})"
