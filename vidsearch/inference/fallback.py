"""Optional failover: Triton first, the embedded ONNX Runtime backend while Triton is down.

Off by default (``inference.fallback: none``): a deployment that chose Triton usually
wants its GPUs, and serving the same traffic on the server's CPUs can be far slower.
When on, a call that finds Triton *unavailable* (refused, restarting, shutting down) is
answered by ONNX Runtime over a local copy of the same model repository, with a warning
logged when serving switches and every such call counted
(``vidsearch_inference_fallback``). Triton is tried again ``retry_after_s`` after the
last failure, so a recovered Triton takes the traffic back by itself.

Not a fallback case: a timeout (the request's time is spent; running the work again
elsewhere would only add load) and a model or version Triton does not serve (the
fallback repository must hold the same release, or codes of different versions mix).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import numpy as np

from vidsearch import metrics
from vidsearch.inference.base import (
    BackendUnavailableError,
    InferenceBackend,
    InferenceTimeoutError,
    ModelSignature,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class FallbackBackend:
    """InferenceBackend: ``primary`` when it answers, else ``fallback``."""

    def __init__(
        self,
        primary: InferenceBackend,
        fallback: InferenceBackend,
        *,
        retry_after_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self._retry_after = retry_after_s
        self._clock = clock
        self._down_until: float | None = None  # primary skipped until then
        self._lock = threading.Lock()

    @property
    def serving_fallback(self) -> bool:
        """True while the primary is considered down."""
        return self._down_until is not None

    @property
    def primary_retry_at(self) -> float | None:
        """Clock time after which the primary is tried again (None: it is in use)."""
        return self._down_until

    def _mark_down(self, exc: BaseException) -> None:
        with self._lock:
            was_up = self._down_until is None
            self._down_until = self._clock() + self._retry_after
        if was_up:
            metrics.INFERENCE_FALLBACK_ACTIVE.set(1)
            log.warning("primary inference backend unavailable, serving with the fallback: %s", exc)

    def _mark_up(self) -> None:
        with self._lock:
            was_down = self._down_until is not None
            self._down_until = None
        if was_down:
            metrics.INFERENCE_FALLBACK_ACTIVE.set(0)
            log.info("primary inference backend is back; fallback no longer used")

    def _run(self, primary: Callable[[], T], fallback: Callable[[], T]) -> tuple[T, bool]:
        """The primary's answer, or the fallback's when the primary is unavailable;
        the flag says whether the fallback answered."""
        down_until = self._down_until
        if down_until is None or self._clock() >= down_until:
            try:
                result = primary()
            except InferenceTimeoutError:
                raise
            except BackendUnavailableError as exc:
                self._mark_down(exc)
            else:
                self._mark_up()
                return result, False
        return fallback(), True

    # ---- InferenceBackend ---------------------------------------------------------
    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        result, used_fallback = self._run(
            lambda: self.primary.infer(model, inputs, version=version, timeout=timeout),
            lambda: self.fallback.infer(model, inputs, version=version, timeout=timeout),
        )
        if used_fallback:
            metrics.INFERENCE_FALLBACK.labels(model=metrics.check_label(model)).inc()
        return result

    def model_versions(self, model: str) -> list[int]:
        versions, _ = self._run(
            lambda: self.primary.model_versions(model),
            lambda: self.fallback.model_versions(model),
        )
        return versions

    def signature(self, model: str, version: int | None = None) -> ModelSignature:
        signature, _ = self._run(
            lambda: self.primary.signature(model, version),
            lambda: self.fallback.signature(model, version),
        )
        return signature

    def is_ready(self) -> bool:
        """Ready when either can serve: with the fallback on, Triton down is not an outage."""
        return self.primary.is_ready() or self.fallback.is_ready()

    def close(self) -> None:
        try:
            self.primary.close()
        finally:
            self.fallback.close()

    def __repr__(self) -> str:
        return f"FallbackBackend({self.primary!r} -> {self.fallback!r})"
