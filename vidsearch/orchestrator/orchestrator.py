"""The orchestrator: composes decode → encode → coarse filter → rerank for each request,
and for text queries text encode → embedding shortlist → text-conditioned rescoring.

It owns no transport: the gRPC service calls these methods with domain types.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from vidsearch import metrics
from vidsearch.catalog.base import (
    Catalog,
    IncompatibleModelError,
    KeyFrame,
    VideoInfo,
    VideoNotFoundError,
    VideoRecord,
)
from vidsearch.config import VidsearchConfig
from vidsearch.contract.models import FRAME_ENCODER
from vidsearch.deadline import RequestBudget, RequestStoppedError
from vidsearch.inference.base import InferenceBackend
from vidsearch.orchestrator.admission import StageLimiters
from vidsearch.orchestrator.api import (
    DuplicateContentError,
    IndexResult,
    InvalidRequestError,
    OverloadedError,
    SearchOptions,
    SearchResult,
    ServiceStats,
    TextSearchOptions,
    TextSearchResult,
    TextSearchUnavailableError,
)
from vidsearch.orchestrator.encoding import (
    DecodedFrames,
    FrameDecoder,
    VideoEncoder,
    file_sha256,
)
from vidsearch.orchestrator.options import resolve_search_options, resolve_text_options
from vidsearch.orchestrator.reindex import ReindexReport, reindex_catalog
from vidsearch.orchestrator.stages import (
    Background,
    ResolvedOptions,
    SearchContext,
    build_search_pipeline,
)
from vidsearch.orchestrator.text_search import (
    TextConditionedRerank,
    TextModels,
    TextQueryEncoder,
    merge_stages,
)

log = logging.getLogger(__name__)


class Orchestrator:
    """Serves IndexVideo, SearchByVideo, Recommend and friends on one backend + catalog."""

    def __init__(
        self,
        config: VidsearchConfig,
        backend: InferenceBackend,
        catalog: Catalog,
        *,
        backend_name: str,
        catalog_name: str,
        text_search: bool = False,
        background: Catalog | None = None,
    ) -> None:
        self._config = config
        self._backend = backend
        self._catalog = catalog
        # Videos never indexed, for score normalisation: its own catalog, never searched.
        self._background = Background(background)
        self._backend_name = backend_name
        self._catalog_name = catalog_name
        self._encoder = VideoEncoder(
            backend, version=config.inference.model_version, timeout_s=config.inference.timeout_s
        )
        self._decoder: FrameDecoder | None = None
        # Seed 003: on when the backend serves the text models and the catalog stores text.
        self._text_search = text_search
        self._text = TextModels(backend, config.text, config.inference.timeout_s)
        if text_search:
            self._text.warm_up()
        self._search_slots = threading.BoundedSemaphore(config.server.max_concurrent_searches)
        self.stage_limits = StageLimiters(config.server.stage_limits)
        self._write_lock = threading.Lock()

    # -- helpers -----------------------------------------------------------------------
    @contextmanager
    def _search_slot(self) -> Iterator[None]:
        """One of ``max_concurrent_searches`` (both search kinds); none free: rejected now."""
        if not self._search_slots.acquire(blocking=False):
            raise OverloadedError(
                f"{self._config.server.max_concurrent_searches} searches are already running; "
                "retry with backoff"
            )
        try:
            yield
        finally:
            self._search_slots.release()

    @property
    def decoder(self) -> FrameDecoder:
        if self._decoder is None:  # needs the served model's input size
            self._decoder = FrameDecoder(self._config.media, self._encoder.frame_size())
        return self._decoder

    @property
    def text_search_enabled(self) -> bool:
        """SearchByText is served (text models in the repository, text vectors in the catalog)."""
        return self._text_search

    @contextmanager
    def _stage(
        self,
        pipeline: str,
        stage: str,
        sink: dict[str, float],
        budget: RequestBudget | None = None,
        resource: str | None = None,
    ) -> Iterator[None]:
        """Run one stage: stop if the request is late or cancelled, hold a slot of its
        ``resource``'s limit (queueing briefly), time it, count early stops."""
        limiter = self.stage_limits.get(resource)
        try:
            if budget is not None:
                budget.check(f"the {stage} stage")
            with limiter.slot(budget) if limiter is not None else nullcontext():
                start = time.perf_counter()
                try:
                    yield
                finally:
                    elapsed = time.perf_counter() - start
                    sink[stage] = sink.get(stage, 0.0) + elapsed
                    metrics.STAGE_SECONDS.labels(pipeline=pipeline, stage=stage).observe(elapsed)
        except RequestStoppedError as exc:
            metrics.REQUESTS_STOPPED.labels(stage=stage, reason=exc.reason).inc()
            raise

    def resolve(self, options: SearchOptions, timeout_s: float | None = None) -> ResolvedOptions:
        """Fill defaults from config and reject values no search could honour."""
        return resolve_search_options(options, self._config.search, timeout_s)

    def _check_compatible(self, model_version: int) -> None:
        """Codes of different model versions live in different spaces: never compare them."""
        indexed = self._catalog.stats().model_versions
        if indexed and model_version not in indexed:
            raise IncompatibleModelError(
                f"the catalog holds codes from model version(s) {list(indexed)} but this query "
                f"uses version {model_version}; search with model_version set to one of those, "
                f"or re-index the catalog with `vidsearch reindex --model-version {model_version}`"
            )

    # -- RPC-level operations ------------------------------------------------------------
    def index_video(
        self,
        path: Path,
        *,
        video_id: str,
        title: str = "",
        tags: tuple[str, ...] = (),
        source: str = "",
        content_sha256: str = "",
        model_version: int | None = None,
        budget: RequestBudget | None = None,
    ) -> IndexResult:
        """Decode, encode and store one video; ``budget`` (deadline, cancellation) is
        checked before each stage and reaches the decoder and inference calls."""
        timings: dict[str, float] = {}
        with self._stage("index", "decode", timings, budget, "decode"):
            decoded: DecodedFrames = self.decoder(path, budget=budget)
        with self._stage("index", "encode", timings, budget, "encode"):
            encoded = self._encoder(
                decoded, version=model_version, with_embedding=True, budget=budget
            )
        text = None
        if self._text_search:
            with self._stage("index", "text_encode", timings, budget, "encode"):
                text = self._text.video_features(
                    decoded.frames, self._text.resolved_version(),
                    timeout_s=budget.remaining() if budget is not None else None,
                )
        digest = content_sha256 or file_sha256(path)
        duplicates = tuple(d for d in self._catalog.find_by_content(digest) if d != video_id)
        if duplicates and self._config.catalog.duplicate_policy == "reject":
            raise DuplicateContentError(
                f"this file is already indexed as {', '.join(duplicates)}; index it under that "
                "id, delete the other first, or set catalog.duplicate_policy=report"
            )
        record = VideoRecord(
            video_id=video_id,
            hash_bits=encoded.video_bits,
            texture=encoded.video_texture,
            duration_s=encoded.duration_s,
            model_version=encoded.model_version,
            keyframes=[
                KeyFrame(float(t), bits, texture)
                for t, bits, texture in zip(
                    encoded.times_s, encoded.keyframe_bits, encoded.keyframe_texture, strict=True
                )
            ],
            embedding=encoded.embedding,
            text=text,
            title=title,
            tags=tags,
            source=source,
            content_sha256=digest,
        )
        # Last check: a write is not interrupted half-way, but is not started for nobody.
        with self._write_lock, self._stage("index", "catalog_upsert", timings, budget, "catalog"):
            replaced = self._catalog.get_video(video_id) is not None
            self._catalog.upsert_video(record)
        info = self._catalog.get_video(video_id)
        if info is None:
            raise RuntimeError(f"video {video_id!r} was written but cannot be read back")
        self._refresh_gauges()
        log.info(
            "indexed video",
            extra={"video_id": video_id, "frames": len(decoded.frames), "timings": timings},
        )
        return IndexResult(video=info, replaced=replaced, duplicate_of=duplicates)

    def delete_video(self, video_id: str) -> bool:
        with self._write_lock:
            deleted = self._catalog.delete_video(video_id)
        self._refresh_gauges()
        return deleted

    def get_video(self, video_id: str) -> VideoInfo | None:
        return self._catalog.get_video(video_id)

    def search_by_video(
        self,
        path: Path,
        options: SearchOptions,
        *,
        timeout_s: float | None = None,
        budget: RequestBudget | None = None,
    ) -> SearchResult:
        """Seed 001 retrieval; ``budget`` (else one of ``timeout_s``) bounds every stage."""
        budget = budget if budget is not None else RequestBudget(timeout_s)
        resolved = self.resolve(options, timeout_s)
        with self._search_slot():
            version = self._encoder.resolved_version(resolved.model_version)
            self._check_compatible(version)
            ctx = SearchContext(path=path, options=resolved, budget=budget)
            timings: dict[str, float] = {}
            step = 1.0 / self._config.media.sample_fps
            for stage in build_search_pipeline(
                resolved.mode, self.decoder, self._encoder, self._catalog, step,
                alignment=resolved.alignment, background=self._background,
            ):
                pipeline = f"search_{resolved.mode}"
                with self._stage(pipeline, stage.name, timings, budget, stage.resource):
                    stage(ctx)
            encoded = ctx.require_encoded()
            return SearchResult(
                hits=tuple(ctx.hits),
                query_duration_s=encoded.duration_s,
                model_version=encoded.model_version,
                mode=resolved.mode,
                stage_seconds=timings,
            )

    def search_by_text(
        self,
        text: str,
        options: TextSearchOptions,
        *,
        timeout_s: float | None = None,
        budget: RequestBudget | None = None,
    ) -> TextSearchResult:
        """Seed 003: stage 1 shortlist by embedding (catalog), stage 2 text-conditioned score;
        ``budget`` (else one of ``timeout_s``) bounds every stage as in search_by_video."""
        budget = budget if budget is not None else RequestBudget(timeout_s)
        if not self._text_search:
            raise TextSearchUnavailableError(
                "text search is off: the model repository serves no text models (export "
                "them with `vidsearch export text-video`) or the catalog was created "
                "without text vectors (re-create it, then `vidsearch reindex`)"
            )
        resolved = resolve_text_options(text, options, self._config.text, timeout_s)
        with self._search_slot():
            version = self._text.resolved_version(resolved.model_version)
            timings: dict[str, float] = {}
            with self._stage("search_text", "text_encode", timings, budget, "encode"):
                query = TextQueryEncoder(self._text)(
                    resolved.text, version, keywords=resolved.keywords,
                    timeout_s=budget.remaining(),
                )
            with self._stage("search_text", "embedding_shortlist", timings, budget, "catalog"):
                candidates = self._catalog.search_text(
                    query.embedding,
                    limit=max(resolved.top_k, resolved.candidates),
                    model_version=version,
                    budget=budget,
                )
            rescored = []
            if resolved.rerank and candidates:
                with self._stage("search_text", "text_rerank", timings, budget, "encode"):
                    rerank = TextConditionedRerank(self._text, self._config.text.scorer_batch)
                    rescored = rerank(query, candidates[: resolved.candidates], version,
                                      budget.remaining())
            return TextSearchResult(
                hits=tuple(merge_stages(candidates, rescored, resolved.top_k)),
                keywords=query.keywords,
                model_version=version,
                stage_seconds=timings,
            )

    def recommend(self, video_id: str, k: int | None = None) -> list[tuple[VideoInfo, float]]:
        """Seed 002: the k videos most similar to an indexed one (5 by default)."""
        limit = k if k is not None else self._config.search.recommend_k
        if not 1 <= limit <= 100:
            raise InvalidRequestError(f"k must be between 1 and 100, got {limit}")
        timings: dict[str, float] = {}
        with self._stage("recommend", "embedding_neighbours", timings, resource="catalog"):
            try:
                return self._catalog.nearest_by_embedding(video_id, limit)
            except VideoNotFoundError:  # the catalog's error carries only the id
                raise VideoNotFoundError(
                    f"no indexed video has id {video_id!r}: recommendations start from a "
                    "video in the catalog; index it first, or check the id with GetVideo "
                    "(`vidsearch get ID`)"
                ) from None

    def stats(self) -> ServiceStats:
        catalog_stats = self._catalog.stats()
        versions = self._backend.model_versions(FRAME_ENCODER.name)
        return ServiceStats(
            videos=catalog_stats.videos,
            keyframes=catalog_stats.keyframes,
            model_name=FRAME_ENCODER.name,
            model_version=versions[-1] if versions else 0,
            inference_backend=self._backend_name,
            catalog_backend=self._catalog_name,
            text_search=self._text_search,
            text_model_version=self._served_text_version(),
        )

    def _served_text_version(self) -> int:
        """The text models' version searches use now; 0 when off or not served."""
        if not self._text_search:
            return 0
        try:
            return self._text.resolved_version()
        except Exception:  # not served right now: the answer is "none", not an error
            return 0

    def is_ready(self) -> bool:
        """Both dependencies answer: the models are served and the catalog is reachable."""
        try:
            return (
                self._backend.is_ready()
                and bool(self._backend.model_versions(FRAME_ENCODER.name))
                and self._catalog.is_ready()
            )
        except Exception:  # readiness must never raise
            return False

    def reindex(self, model_version: int | None = None, *, progress: bool = True) -> ReindexReport:
        """Re-encode every video whose codes came from another model version (see
        ``reindex.reindex_catalog``)."""
        target = self._encoder.resolved_version(model_version)
        text_target = self._text.resolved_version() if self._text_search else None
        return reindex_catalog(self._catalog.iter_videos(), target, self.index_video,
                               text_target=text_target, progress=progress)

    def optimize_catalog(self) -> None:
        """After bulk indexing: let the catalog build its quantized segments (Qdrant Edge)."""
        optimize = getattr(self._catalog, "optimize", None)
        if callable(optimize):
            optimize()

    def _refresh_gauges(self) -> None:
        catalog_stats = self._catalog.stats()
        metrics.CATALOG_VIDEOS.set(catalog_stats.videos)
        metrics.CATALOG_KEYFRAMES.set(catalog_stats.keyframes)

    def close(self) -> None:
        if self._background.catalog is not None:
            self._background.catalog.close()
        self._catalog.close()
        self._backend.close()
