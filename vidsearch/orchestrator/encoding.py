"""Decode and encode stages: a video file becomes codes and textures through the served models.

The model input size is read from the served model's signature, so the decoder can never
disagree with the network about frame size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from vidsearch.config import MediaConfig
from vidsearch.contract.models import (
    CLIP_FRAMES,
    EMBEDDING,
    FEATURE,
    FRAME_ENCODER,
    FRAMES,
    HASH_BITS,
    HASH_TEXTURE_HEADS,
    TEXTURE,
    VIDEO_EMBEDDER,
)
from vidsearch.deadline import RequestBudget
from vidsearch.inference.base import BackendUnavailableError, InferenceBackend, ModelNotFoundError
from vidsearch.media import sandbox
from vidsearch.media.decode import DecodedVideo, decode_video
from vidsearch.media.errors import SOURCE, EmptyMediaError
from vidsearch.media.sandbox import sandboxed_decode_video
from vidsearch.media.transforms import resize
from vidsearch.orchestrator.query_views import split_views, view_frames


@dataclass(frozen=True)
class DecodedFrames:
    frames: np.ndarray  # uint8 [T,S,S,3]
    times_s: np.ndarray  # float64 [T]
    duration_s: float


@dataclass(frozen=True)
class EncodedVideo:
    """Hash codes and textures of one video: per key frame and for the whole video."""

    keyframe_bits: np.ndarray  # float32 ±1 [T,128]
    keyframe_texture: np.ndarray  # float32 [T,Dt]
    video_bits: np.ndarray  # float32 ±1 [128]
    video_texture: np.ndarray  # float32 [Dt]
    times_s: np.ndarray  # float64 [T]
    duration_s: float
    model_version: int
    embedding: np.ndarray | None = None  # recommendation embedding [D]
    # Query views (``query_views``): the same key frames mirrored, turned or windowed.
    views: tuple[EncodedView, ...] = ()


@dataclass(frozen=True)
class EncodedView:
    """One query view's key frames (same rows and times as the original frames)."""

    name: str
    bits: np.ndarray  # float32 ±1 [T,128]
    texture: np.ndarray  # float32 [T,Dt]


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class FrameDecoder:
    """Decode stage: sample frames at the configured rate, sized for the frame encoder."""

    name = "decode"

    def __init__(self, media: MediaConfig, frame_size: int) -> None:
        self._media = media
        self._size = frame_size
        if media.sandbox:
            sandbox.POOL.resize(media.warm_decoders)

    def __call__(self, path: Path, *, budget: RequestBudget | None = None) -> DecodedFrames:
        """Decode ``path``; a cancelled or late ``budget`` stops the decoder mid-file."""
        media = self._media
        decode: Callable[..., DecodedVideo] = (
            partial(sandboxed_decode_video, memory_limit_bytes=media.sandbox_memory_bytes)
            if media.sandbox
            else decode_video
        )
        decoded = decode(
            path,
            fps=media.sample_fps,
            size=self._size,
            max_frames=media.max_frames,
            max_pixels=media.max_pixels,
            max_duration_s=media.max_duration_s,
            timeout_s=media.decode_timeout_s,
            interrupt=None if budget is None else partial(budget.check, "decoding finished"),
            skip_nonreference=media.skip_nonreference_frames,
            skip_deblocking=media.skip_deblocking,
        )
        if len(decoded.frames) == 0:
            raise EmptyMediaError(f"{SOURCE} has no video frame that could be decoded", str(path))
        return DecodedFrames(decoded.frames, decoded.timestamps, float(decoded.duration_s))


class VideoEncoder:
    """Encode stage: frame encoder, then the parallel hash + texture heads.

    Key frames and the whole video go through the heads in ONE batch: the whole-video
    feature is the temporal mean of the frame features (the copy descriptor's whole-video
    input).
    """

    name = "encode"

    def __init__(
        self,
        backend: InferenceBackend,
        *,
        version: int | None = None,
        batch_size: int = 64,
        timeout_s: float | None = None,
    ) -> None:
        self._backend = backend
        self._version = version
        self._batch = batch_size
        self._timeout = timeout_s
        self._input_sizes: dict[tuple[str, int], int] = {}

    def resolved_version(
        self, requested: int | None = None, model: str = FRAME_ENCODER.name
    ) -> int:
        """The model version a request will use: per request, then config, then latest."""
        wanted = requested if requested is not None else self._version
        versions = self._backend.model_versions(model)
        if not versions:  # unloaded or still loading: a state that passes, so retryable
            raise BackendUnavailableError(f"no version of {model} is being served right now")
        if wanted is None:
            return versions[-1]
        if wanted not in versions:
            raise ModelNotFoundError(
                f"model version {wanted} of {model} is not served (serving {versions})"
            )
        return wanted

    def embedder_version(self, hash_version: int) -> int:
        """The recommendation embedder is exported on its own: same release if served, else
        latest."""
        versions = self._backend.model_versions(VIDEO_EMBEDDER.name)
        if not versions:
            raise BackendUnavailableError(
                f"no version of {VIDEO_EMBEDDER.name} is being served right now"
            )
        return hash_version if hash_version in versions else versions[-1]

    def _infer(
        self, model: str, inputs: dict[str, np.ndarray], version: int, timeout: float | None
    ) -> dict[str, np.ndarray]:
        try:
            return self._backend.infer(model, inputs, version=version, timeout=timeout)
        except ModelNotFoundError as exc:
            if not self._backend.model_versions(model):  # unloaded while this request ran
                raise BackendUnavailableError(
                    f"{model} was unloaded during the request; retry shortly"
                ) from exc
            raise

    def _frames_for(self, model: str, version: int, frames: np.ndarray) -> np.ndarray:
        """``frames`` [T,S,S,3] as one clip [1,T,s,s,3] at ``model``'s own input size: the
        decoder samples at the frame encoder's size, and the recommendation embedder may differ."""
        size = self._input_sizes.get((model, version))
        if size is None:  # one signature lookup per served version, not per request
            size = int(self._backend.signature(model, version).inputs[0].shape[-2])
            self._input_sizes[(model, version)] = size
        return resize(frames, size, size)[None]

    def frame_size(self) -> int:
        signature = self._backend.signature(FRAME_ENCODER.name, self._version)
        dims = signature.inputs[0].shape
        return int(dims[-2])

    def __call__(
        self,
        decoded: DecodedFrames,
        *,
        version: int | None = None,
        with_embedding: bool = False,
        timeout_s: float | None = None,
        budget: RequestBudget | None = None,
        views: Sequence[str] = (),
    ) -> EncodedVideo:
        """Encode ``decoded``; each inference call gets what is left of ``budget`` as its
        timeout (capped by ``timeout_s`` or the configured one) and is not started when
        the request was cancelled or ran out of time. ``views`` (``query_views.view_names``):
        those pictures of the key frames go through the same batches too; the whole-video
        outputs stay those of the original frames."""
        model_version = self.resolved_version(version)
        default = timeout_s if timeout_s is not None else self._timeout

        def timeout(model: str) -> float | None:
            return default if budget is None else budget.timeout_for(f"running {model}", default)

        n = len(decoded.frames)
        frames = decoded.frames
        if views:  # indexing has none: no copy of the frames
            frames = np.concatenate([frames, *(view_frames(frames, name) for name in views)])
        features = np.concatenate(
            [
                self._infer(
                    FRAME_ENCODER.name,
                    {FRAMES.name: frames[start : start + self._batch]},
                    model_version,
                    timeout(FRAME_ENCODER.name),
                )[FEATURE.name]
                for start in range(0, len(frames), self._batch)
            ]
        )
        whole = features[:n].mean(axis=0, keepdims=True)
        batch = np.concatenate([features, whole]).astype(np.float32)
        heads = self._infer(
            HASH_TEXTURE_HEADS.name,
            {FEATURE.name: batch},
            model_version,
            timeout(HASH_TEXTURE_HEADS.name),
        )
        all_bits = heads[HASH_BITS.name].astype(np.float32)
        all_texture = heads[TEXTURE.name].astype(np.float32)
        encoded_views = tuple(
            EncodedView(name, bits, texture)
            for name, bits, texture in zip(
                views, split_views(all_bits, n, len(views)),
                split_views(all_texture, n, len(views)), strict=True,
            )
        )
        bits = np.concatenate([all_bits[:n], all_bits[-1:]])
        texture = np.concatenate([all_texture[:n], all_texture[-1:]])
        embedding = None
        if with_embedding:
            embedder_version = self.embedder_version(model_version)
            clip = self._frames_for(VIDEO_EMBEDDER.name, embedder_version, decoded.frames)
            embedding = self._infer(
                VIDEO_EMBEDDER.name,
                {CLIP_FRAMES.name: clip},
                embedder_version,
                timeout(VIDEO_EMBEDDER.name),
            )[EMBEDDING.name][0].astype(np.float32)
        return EncodedVideo(
            keyframe_bits=bits[:-1],
            keyframe_texture=texture[:-1],
            video_bits=bits[-1],
            video_texture=texture[-1],
            times_s=decoded.times_s,
            duration_s=decoded.duration_s,
            model_version=model_version,
            embedding=embedding,
            views=encoded_views,
        )
