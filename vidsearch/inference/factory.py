"""Build the inference backend an :class:`InferenceConfig` names.

Moving from the embedded backend to a Triton cluster is this config switch only;
the heavy client library is imported only for the backend actually chosen.
"""

from __future__ import annotations

from pathlib import Path

from vidsearch.config import InferenceConfig
from vidsearch.inference.base import InferenceBackend


def _onnxruntime(config: InferenceConfig, repository: Path) -> InferenceBackend:
    from vidsearch.inference.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(
        repository, providers=config.providers or None, default_version=config.model_version
    )


def build_backend(config: InferenceConfig) -> InferenceBackend:
    """``onnxruntime``: sessions over ``model_repository``; ``triton``: gRPC to ``triton_url``,
    wrapped in a :class:`FallbackBackend` when ``fallback`` is ``onnxruntime``."""
    if config.backend == "onnxruntime":
        return _onnxruntime(config, config.model_repository)
    if config.backend == "triton":
        from vidsearch.inference.triton_backend import TritonBackend

        triton = TritonBackend(
            config.triton_url,
            timeout=config.timeout_s,
            default_version=config.model_version,
            tls_ca_file=config.triton_tls_ca_file,
            tls_cert_file=config.triton_tls_cert_file,
            tls_key_file=config.triton_tls_key_file,
        )
        if config.fallback == "none":
            return triton
        from vidsearch.inference.fallback import FallbackBackend

        repository = config.fallback_model_repository or config.model_repository
        return FallbackBackend(
            triton, _onnxruntime(config, repository), retry_after_s=config.fallback_retry_s
        )
    raise ValueError(f"unknown inference backend {config.backend!r}")
