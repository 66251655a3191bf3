"""Text search through the served models: text features at index time, SearchByText stages.

Three served models (``vidsearch.contract.models``): ``text_encoder`` (tokens, global
text feature, stage 1 text embedding), ``text_video_embedder`` (a video's stage 1
embedding and the per-frame features stage 2 needs, computed once at index time and
stored with the video) and ``text_video_scorer`` (query-conditioned score of aligned
rows). Tokenisation uses the MiniLM package's tokenizer files, the same vocabulary the
served encoder was exported with; keywords come from KeyBERT over the SERVED encoder,
so the serving path needs no PyTorch. The method and its source: ``docs/design.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from vidsearch.catalog.base import Catalog, TextCandidate, TextFeatures
from vidsearch.config import TextSearchConfig
from vidsearch.contract.models import (
    ATTENTION_MASK,
    CLIP_FRAMES,
    COARSE,
    EMBEDDING,
    FINE,
    FRAME_FEATURES,
    FRAME_MASK,
    INPUT_IDS,
    KEYWORD_FEATURES,
    KEYWORD_MASK,
    LOCAL_FEATURES,
    SCORE,
    TEXT_EMBEDDING,
    TEXT_ENCODER,
    TEXT_FEATURE,
    TEXT_SEARCH_MODELS,
    TEXT_VIDEO_EMBEDDER,
    TEXT_VIDEO_SCORER,
    TOKEN_FEATURES,
    TOKEN_MASK,
    ModelContract,
    Tensor,
)
from vidsearch.deadline import RequestBudget
from vidsearch.inference.base import BackendUnavailableError, InferenceBackend, ModelNotFoundError
from vidsearch.media.transforms import resize
from vidsearch.orchestrator.api import TextHit
from vidsearch.orchestrator.options import ResolvedTextOptions
from vidsearch.orchestrator.pipeline import Stage
from vidsearch.orchestrator.wording import Wording

MAX_QUERY_TOKENS = 64


def serves_text_models(backend: InferenceBackend) -> bool:
    """True when every text-search model has a ready version."""
    try:
        return all(backend.model_versions(model.name) for model in TEXT_SEARCH_MODELS)
    except Exception:  # an unreachable backend answers "not now", not a crash
        return False


def uniform_subsample(n: int, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` frames spread evenly over ``n`` (all when n <= limit)."""
    if n <= limit:
        return np.arange(n)
    return np.round(np.linspace(0, n - 1, limit)).astype(np.int64)


@dataclass(frozen=True)
class EncodedQuery:
    tokens: np.ndarray  # float32 [L,384]
    token_mask: np.ndarray  # float32 [L]
    text: np.ndarray  # float32 [384] global feature
    embedding: np.ndarray  # float32 [E] stage 1 vector
    keywords: tuple[str, ...]
    keyword_features: np.ndarray  # float32 [K,384]
    keyword_mask: np.ndarray  # float32 [K]


class TextModels:
    """The text-search models of one backend: versions, sizes, and the calls into them."""

    def __init__(self, backend: InferenceBackend, config: TextSearchConfig,
                 timeout_s: float | None = None, wording: Wording | None = None) -> None:
        self._backend = backend
        self._config = config
        self._timeout = timeout_s
        self._wording = wording

    def query_text(self, text: str, version: int) -> str:
        """A query as the text encoder of ``version`` should read it: its unseen words
        rewritten by the thesaurus (``text.thesaurus``), the rest as asked."""
        return text if self._wording is None else self._wording.rewrite([text], version)[0]

    def resolved_version(self, requested: int | None = None) -> int:
        """Per request, then config, then the latest version all three models share."""
        wanted = requested if requested is not None else self._config.model_version
        served = [set(self._backend.model_versions(m.name)) for m in TEXT_SEARCH_MODELS]
        common = sorted(set.intersection(*served))
        if not common:
            raise BackendUnavailableError("the text models are not being served right now")
        if wanted is None:
            return common[-1]
        if wanted not in common:
            raise ModelNotFoundError(
                f"text model version {wanted} is not served (serving {common})")
        return wanted

    def infer(self, model: ModelContract, inputs: dict[str, np.ndarray], version: int,
              timeout_s: float | None = None) -> dict[str, np.ndarray]:
        timeout = timeout_s if timeout_s is not None else self._timeout
        return self._backend.infer(model.name, inputs, version=version, timeout=timeout)

    def _dim(self, model: ModelContract, tensor: Tensor, axis: int) -> int:
        sig = self._backend.signature(model.name, self._config.model_version)
        specs = sig.outputs if tensor in model.outputs else sig.inputs
        return int(next(t.shape[axis] for t in specs if t.name == tensor.name))

    @cached_property
    def embed_dim(self) -> int:
        return self._dim(TEXT_VIDEO_EMBEDDER, EMBEDDING, -1)

    @cached_property
    def sentence_dim(self) -> int:
        """Size of the encoder's sentence embedding (``text_feature``: caption vectors)."""
        return self._dim(TEXT_ENCODER, TEXT_FEATURE, -1)

    @cached_property
    def frame_size(self) -> int:
        return self._dim(TEXT_VIDEO_EMBEDDER, CLIP_FRAMES, -2)

    @cached_property
    def keyword_slots(self) -> int:
        """K, the number of keywords the scorer takes per query."""
        return self._dim(TEXT_VIDEO_SCORER, KEYWORD_FEATURES, -2)

    @cached_property
    def tokenizer(self) -> Any:
        from vidsearch.networks.text_encoder import load_tokenizer

        return load_tokenizer()

    def warm_up(self) -> None:
        """One full query encode (tokenizer, KeyBERT + sklearn imports, ONNX sessions) at
        start, so the first request does not pay ~1-10 s for it."""
        try:
            version = self.resolved_version()
        except BackendUnavailableError:
            return  # not served yet: the first request warms up instead
        TextQueryEncoder(self)("a red circle moves to the left", version, keywords=True)

    def tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        enc = self.tokenizer(texts, padding=True, truncation=True,
                             max_length=MAX_QUERY_TOKENS, return_tensors="np")
        return enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)

    def encode_texts(self, texts: list[str], version: int,
                     timeout_s: float | None = None) -> dict[str, np.ndarray]:
        ids, mask = self.tokenize(texts)
        out = self.infer(TEXT_ENCODER, {INPUT_IDS.name: ids, ATTENTION_MASK.name: mask}, version,
                         timeout_s)
        return {**out, ATTENTION_MASK.name: mask}

    def video_features(self, frames: np.ndarray, version: int,
                       timeout_s: float | None = None) -> TextFeatures:
        """Index time: one video's frames (uint8 [T,S,S,3]) -> its stored text features."""
        picked = frames[uniform_subsample(len(frames), self._config.max_frames)]
        size = self.frame_size  # the two models may take different sizes (resize: no-op if not)
        batch = resize(picked, size, size)[None]
        out = self.infer(TEXT_VIDEO_EMBEDDER, {CLIP_FRAMES.name: batch}, version, timeout_s)
        return TextFeatures(
            embedding=out[EMBEDDING.name][0].astype(np.float32),
            local=out[LOCAL_FEATURES.name][0].astype(np.float32),
            frames=out[FRAME_FEATURES.name][0].astype(np.float32),
            model_version=version,
        )


class TextQueryEncoder:
    """The query's token/global features, embedding and keywords."""

    def __init__(self, models: TextModels, max_keyword_words: int = 2) -> None:
        self._models = models
        self._max_words = max_keyword_words

    def __call__(self, text: str, version: int, *, keywords: bool,
                 timeout_s: float | None = None) -> EncodedQuery:
        out = self._models.encode_texts([text], version, timeout_s)
        k = self._models.keyword_slots
        kw_features = np.zeros((k, out[TEXT_FEATURE.name].shape[-1]), np.float32)
        kw_mask = np.zeros(k, np.float32)
        found: list[str] = []
        if keywords:
            found = self._keywords(text, version, timeout_s)[:k]
            if found:
                feats = self._models.encode_texts(found, version, timeout_s)[TEXT_FEATURE.name]
                kw_features[: len(found)] = feats
                kw_mask[: len(found)] = 1.0
        return EncodedQuery(
            tokens=out[TOKEN_FEATURES.name][0].astype(np.float32),
            token_mask=out[ATTENTION_MASK.name][0].astype(np.float32),
            text=out[TEXT_FEATURE.name][0].astype(np.float32),
            embedding=out[TEXT_EMBEDDING.name][0].astype(np.float32),
            keywords=tuple(found),
            keyword_features=kw_features,
            keyword_mask=kw_mask,
        )

    def _keywords(self, text: str, version: int, timeout_s: float | None) -> list[str]:
        from vidsearch.networks.keywords import KeywordExtractor

        def embed(texts: list[str]) -> np.ndarray:
            return self._models.encode_texts(texts, version, timeout_s)[TEXT_FEATURE.name]

        extractor = KeywordExtractor(self._models.keyword_slots, self._max_words, embed=embed)
        return extractor(text)


class TextConditionedRerank:
    """The scorer over the shortlist, candidates padded to one length."""

    def __init__(self, models: TextModels, batch: int) -> None:
        self._models = models
        self._batch = batch

    def __call__(self, query: EncodedQuery, candidates: list[TextCandidate], version: int,
                 timeout_s: float | None = None) -> list[TextHit]:
        hits: list[TextHit] = []
        for start in range(0, len(candidates), self._batch):
            chunk = candidates[start : start + self._batch]
            out = self._models.infer(TEXT_VIDEO_SCORER, self._rows(query, chunk), version,
                                     timeout_s)
            # Triton returns per-row scalars as [B,1] (dims [1] + reshape), ORT as [B].
            score, fine, coarse = (np.asarray(out[t.name]).reshape(-1) for t in (SCORE, FINE,
                                                                                 COARSE))
            for cand, score_, fine_, coarse_ in zip(chunk, score, fine, coarse, strict=True):
                hits.append(TextHit(cand.info, float(score_), cand.similarity, True,
                                    float(fine_), float(coarse_)))
        return sorted(hits, key=lambda h: -h.score)

    @staticmethod
    def _rows(query: EncodedQuery, chunk: list[TextCandidate]) -> dict[str, np.ndarray]:
        n = len(chunk)
        t = max(c.features.local.shape[0] for c in chunk)
        d = chunk[0].features.local.shape[1]
        local = np.zeros((n, t, d), np.float32)
        frames = np.zeros((n, t, d), np.float32)
        mask = np.zeros((n, t), np.float32)
        for i, cand in enumerate(chunk):
            length = cand.features.local.shape[0]
            local[i, :length], frames[i, :length] = cand.features.local, cand.features.frames
            mask[i, :length] = 1.0

        def rows(x: np.ndarray) -> np.ndarray:
            return np.repeat(x[None], n, axis=0)

        return {
            TOKEN_FEATURES.name: rows(query.tokens), TOKEN_MASK.name: rows(query.token_mask),
            TEXT_FEATURE.name: rows(query.text),
            KEYWORD_FEATURES.name: rows(query.keyword_features),
            KEYWORD_MASK.name: rows(query.keyword_mask), LOCAL_FEATURES.name: local,
            FRAME_FEATURES.name: frames, FRAME_MASK.name: mask,
        }


def merge_stages(candidates: list[TextCandidate], rescored: list[TextHit],
                 top_k: int) -> list[TextHit]:
    """Rescored videos first (stage 2 order), then the rest of stage 1 in its own order:
    a reranker orders its shortlist, it cannot promote what it never saw."""
    seen = {h.video.video_id for h in rescored}
    rest = [TextHit(c.info, c.similarity, c.similarity) for c in candidates
            if c.info.video_id not in seen]
    return (rescored + rest)[:top_k]


@dataclass
class TextSearchContext:
    """One text query, and what each stage makes of it."""

    options: ResolvedTextOptions
    version: int  # of the text models, the same for every stage
    budget: RequestBudget = field(default_factory=RequestBudget.unlimited)
    query: EncodedQuery | None = None
    candidates: list[TextCandidate] = field(default_factory=list)
    rescored: list[TextHit] = field(default_factory=list)

    def require_query(self) -> EncodedQuery:
        if self.query is None:
            raise RuntimeError("pipeline misconfigured: text_encode stage must run first")
        return self.query


class TextEncodeStage:
    name = "text_encode"
    resource = "encode"

    def __init__(self, models: TextModels) -> None:
        self._models = models
        self._encode = TextQueryEncoder(models)

    def __call__(self, ctx: TextSearchContext) -> None:
        ctx.query = self._encode(
            self._models.query_text(ctx.options.text, ctx.version), ctx.version,
            keywords=ctx.options.keywords,
            timeout_s=ctx.budget.remaining(),
        )


class EmbeddingShortlist:
    """Stage 1: videos nearest the query embedding, among those of the same text models."""

    name = "embedding_shortlist"
    resource = "catalog"

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __call__(self, ctx: TextSearchContext) -> None:
        ctx.candidates = self._catalog.search_text(
            ctx.require_query().embedding,
            limit=max(ctx.options.top_k, ctx.options.candidates),
            model_version=ctx.version,
            budget=ctx.budget,
            only=ctx.options.only,
        )


class TextRerankStage:
    """Stage 2: the text-conditioned score of the shortlist's first ``candidates``."""

    name = "text_rerank"
    resource = "encode"

    def __init__(self, models: TextModels, batch: int) -> None:
        self._rerank = TextConditionedRerank(models, batch)

    def __call__(self, ctx: TextSearchContext) -> None:
        if ctx.candidates:
            ctx.rescored = self._rerank(
                ctx.require_query(), ctx.candidates[: ctx.options.candidates], ctx.version,
                ctx.budget.remaining(),
            )


def build_text_pipeline(
    models: TextModels, catalog: Catalog, *, rerank: bool, scorer_batch: int
) -> list[Stage[TextSearchContext]]:
    """The stage list for SearchByText (``rerank``: with the text-conditioned stage 2)."""
    stages: list[Stage[TextSearchContext]] = [TextEncodeStage(models), EmbeddingShortlist(catalog)]
    if rerank:
        stages.append(TextRerankStage(models, scorer_batch))
    return stages
