"""Captions through the served models: a sentence per indexed video (seed 000).

``caption_encoder`` turns the video's frames into the decoder's memory and first state;
the decoding loop (beam search, 5 by default, or greedy) runs here over ``caption_step``
(``inference.caption_search``), one batched step call per word. The words come from the
``vocabulary.json`` beside the served step, read from the model repository this
process was configured with (``inference.model_repository``; a Triton deployment
mounts the same repository). At index time the sentence is also embedded by the served
MiniLM text encoder (its ``text_feature``, the sentence embedding all-MiniLM-L6-v2 was
trained to produce) for SearchBySentence.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from vidsearch.catalog.base import Caption
from vidsearch.config import CaptionsConfig
from vidsearch.contract.caption_words import BOS, EOS, sentence
from vidsearch.contract.models import (
    CAPTION_ENCODER,
    CAPTION_MEMORY,
    CAPTION_MODELS,
    CAPTION_STEP,
    CLIP_FRAMES,
    DECODER_C,
    DECODER_H,
    FRAME_MASK,
    LOG_PROBS,
    NEXT_C,
    NEXT_H,
    TEXT_FEATURE,
    WORDS,
    ModelContract,
)
from vidsearch.contract.repository_layout import (
    SPEECH_LM_FILE,
    SYNONYMS_FILE,
    VOCABULARY_FILE,
    version_dir,
)
from vidsearch.deadline import RequestBudget
from vidsearch.inference.base import BackendUnavailableError, InferenceBackend, ModelNotFoundError
from vidsearch.inference.caption_search import beam_search, greedy
from vidsearch.media.transforms import resize
from vidsearch.orchestrator.encoding import DecodedFrames
from vidsearch.orchestrator.text_search import TextModels, uniform_subsample


def serves_caption_models(backend: InferenceBackend) -> bool:
    """True when both caption models have a ready version."""
    try:
        return all(backend.model_versions(model.name) for model in CAPTION_MODELS)
    except Exception:  # an unreachable backend answers "not now", not a crash
        return False


class CaptionModels:
    """The captioner of one backend: versions, its words, and sentences for frames."""

    def __init__(self, backend: InferenceBackend, config: CaptionsConfig, repository: Path,
                 timeout_s: float | None = None) -> None:
        self._backend = backend
        self.config = config
        self._repository = Path(repository)
        self._timeout = timeout_s
        self._words: dict[int, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def resolved_version(self, requested: int | None = None) -> int:
        """Per request, then config, then the latest version both models share."""
        wanted = requested if requested is not None else self.config.model_version
        served = [set(self._backend.model_versions(m.name)) for m in CAPTION_MODELS]
        common = sorted(set.intersection(*served))
        if not common:
            raise BackendUnavailableError("the caption models are not being served right now")
        if wanted is None:
            return common[-1]
        if wanted not in common:
            raise ModelNotFoundError(
                f"caption model version {wanted} is not served (serving {common})")
        return wanted

    def version_file(self, version: int, name: str) -> Path:
        """A file beside ``caption_step``'s model of ``version`` in the repository."""
        return version_dir(self._repository, CAPTION_STEP.name, version) / name

    def words(self, version: int) -> tuple[str, ...]:
        """The step's vocabulary (word ids index it), read once per version."""
        with self._lock:
            if version not in self._words:
                path = self.version_file(version, VOCABULARY_FILE)
                try:
                    self._words[version] = tuple(json.loads(path.read_text()))
                except (OSError, ValueError) as exc:
                    raise ModelNotFoundError(
                        f"caption_step version {version} has no readable {VOCABULARY_FILE} in "
                        f"the model repository {self._repository}: re-export the captioner "
                        "(`vidsearch export --family captions`)") from exc
            return self._words[version]

    def synonyms(self, version: int) -> dict[str, tuple[str, ...]]:
        """The synonym groups exported with the captioner ({}: an older export)."""
        path = self.version_file(version, SYNONYMS_FILE)
        if not path.is_file():
            return {}
        try:
            groups = json.loads(path.read_text())
            return {str(term): tuple(map(str, phrases)) for term, phrases in groups.items()}
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            raise ModelNotFoundError(
                f"caption_step version {version} has an unreadable {SYNONYMS_FILE}: re-export "
                "the captioner (`vidsearch export --family captions`)") from exc

    def speech_model(self, version: int) -> str | None:
        """The spoken-query language model exported with the captioner (None: absent)."""
        path = self.version_file(version, SPEECH_LM_FILE)
        return path.read_text() if path.is_file() else None

    @cached_property
    def frame_size(self) -> int:
        signature = self._backend.signature(CAPTION_ENCODER.name, self.config.model_version)
        return int(signature.inputs[0].shape[-2])

    def _infer(self, model: ModelContract, inputs: dict[str, np.ndarray], version: int,
               timeout_s: float | None) -> dict[str, np.ndarray]:
        timeout = timeout_s if timeout_s is not None else self._timeout
        return self._backend.infer(model.name, inputs, version=version, timeout=timeout)

    def caption(self, frames: np.ndarray, version: int, budget: RequestBudget | None = None
                ) -> str:
        """The generated sentence of one video's frames (uint8 [T,S,S,3])."""
        cfg = self.config

        def timeout() -> float | None:
            default = self._timeout
            return default if budget is None else budget.timeout_for("captioning", default)

        picked = frames[uniform_subsample(len(frames), cfg.max_frames)]
        clip = resize(picked, self.frame_size, self.frame_size)[None]
        out = self._infer(CAPTION_ENCODER, {CLIP_FRAMES.name: clip}, version, timeout())
        memory = out[CAPTION_MEMORY.name].astype(np.float32)
        h, c = out[DECODER_H.name].astype(np.float32), out[DECODER_C.name].astype(np.float32)
        mask = np.ones(memory.shape[:2], dtype=np.float32)

        def step(words: np.ndarray, h: np.ndarray, c: np.ndarray, rows: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            got = self._infer(CAPTION_STEP, {
                WORDS.name: words, DECODER_H.name: h, DECODER_C.name: c,
                CAPTION_MEMORY.name: memory[rows], FRAME_MASK.name: mask[rows]}, version,
                timeout())  # fmt: skip
            return got[LOG_PROBS.name], got[NEXT_H.name], got[NEXT_C.name]

        if cfg.beam == 1:
            decoded = greedy(step, h, c, bos=BOS, eos=EOS, max_len=cfg.max_words)[0]
        else:
            decoded = beam_search(step, h[0], c[0], bos=BOS, eos=EOS, max_len=cfg.max_words,
                                  beam=cfg.beam, alpha=cfg.length_alpha)
        return sentence(self.words(version), decoded.ids)


@dataclass
class Captioner:
    """What indexing writes for a video: its sentence and (when the catalog stores them
    and the text models are served) its sentence vector."""

    models: CaptionModels
    text: TextModels | None  # None: no sentence vectors

    def __call__(self, decoded: DecodedFrames, budget: RequestBudget) -> Caption:
        version = self.models.resolved_version()
        text = self.models.caption(decoded.frames, version, budget)
        if self.text is None or not text:
            return Caption(text, version)
        text_version = self.text.resolved_version()
        vector = sentence_vector(self.text, text, text_version, budget.remaining())
        return Caption(text, version, vector, text_version)


def sentence_vector(models: TextModels, text: str, version: int,
                    timeout_s: float | None = None) -> np.ndarray:
    """The MiniLM sentence embedding of ``text`` (captions and queries alike)."""
    out = models.encode_texts([text], version, timeout_s)
    return out[TEXT_FEATURE.name][0].astype(np.float32)
