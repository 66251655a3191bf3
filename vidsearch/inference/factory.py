"""Build the inference backend an :class:`InferenceConfig` names.

Moving from the embedded backend to a Triton cluster is this config switch only;
the heavy client library is imported only for the backend actually chosen.
"""

from __future__ import annotations

from vidsearch.config import InferenceConfig
from vidsearch.inference.base import InferenceBackend


def build_backend(config: InferenceConfig) -> InferenceBackend:
    """``onnxruntime``: sessions over ``model_repository``; ``triton``: gRPC to ``triton_url``."""
    if config.backend == "onnxruntime":
        from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(
            config.model_repository,
            providers=config.providers or None,
            default_version=config.model_version,
        )
    if config.backend == "triton":
        from vidsearch.inference.triton_backend import TritonBackend

        return TritonBackend(
            config.triton_url, timeout=config.timeout_s, default_version=config.model_version
        )
    raise ValueError(f"unknown inference backend {config.backend!r}")
