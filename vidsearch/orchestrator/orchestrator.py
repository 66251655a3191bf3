"""The orchestrator: builds each request's pipeline (index, search by video, search by
text, recommend) and runs it with the one ``PipelineRunner``.

It owns no transport: the gRPC service calls these methods with domain types.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from vidsearch import metrics
from vidsearch.catalog.base import (
    Catalog,
    IncompatibleModelError,
    VideoFilter,
    VideoInfo,
    VideoRecord,
)
from vidsearch.config import VidsearchConfig
from vidsearch.contract.models import FRAME_ENCODER
from vidsearch.deadline import RequestBudget
from vidsearch.inference.base import InferenceBackend
from vidsearch.orchestrator import listing
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
from vidsearch.orchestrator.encoding import FrameDecoder
from vidsearch.orchestrator.indexing import (
    CatalogUpsert,
    IndexContext,
    IndexModels,
    build_index_pipeline,
    read_back,
)
from vidsearch.orchestrator.options import resolve_search_options, resolve_text_options
from vidsearch.orchestrator.pipeline import PipelineRunner
from vidsearch.orchestrator.recommend import EmbeddingNeighbours, RecommendContext
from vidsearch.orchestrator.reindex import ReindexReport, reindex_catalog
from vidsearch.orchestrator.spoken_query import SentenceService
from vidsearch.orchestrator.stages import (
    Background,
    ResolvedOptions,
    SearchContext,
    build_search_pipeline,
)
from vidsearch.orchestrator.tags import TagService
from vidsearch.orchestrator.text_search import (
    TextSearchContext,
    build_text_pipeline,
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
        captions: bool = False,
        background: Catalog | None = None,
    ) -> None:
        self._config = config
        self._backend = backend
        self._catalog = catalog
        # Videos never indexed, for score normalisation: its own catalog, never searched.
        self._background = Background(background)
        self._backend_name = backend_name
        self._catalog_name = catalog_name
        # Text search: on when the backend serves the text models and the catalog stores text.
        # Captions: on when the captioner is served; sentence vectors when the text models
        # are too and the catalog stores them.
        sentence_vectors = captions and text_search and catalog.has_sentence_vectors()
        self.models = IndexModels.build(config, backend, text_search=text_search,
                                        captioning=captions, sentence_vectors=sentence_vectors)
        self._encoder = self.models.encoder
        self._decoder: FrameDecoder | None = None
        self._text_search = text_search
        self._text = self.models.text
        if text_search:
            self._text.warm_up()
        self._search_slots = threading.BoundedSemaphore(config.server.max_concurrent_searches)
        self.stage_limits = StageLimiters(config.server.stage_limits)
        self.runner = PipelineRunner(self.stage_limits)
        self._write_lock = threading.Lock()
        # Tags (seed 004): the served tag models, or the text models standing in for them.
        self._tag_models = self.models.tags
        self.tags = TagService(self._tag_models, catalog, self.runner, lambda: self.decoder,
                               config.tags.scene_weight)
        self.sentences = SentenceService(
            self.models.captions, self._text, catalog, self.runner, config.media,
            enabled=sentence_vectors, search_slot=self._search_slot)

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

    def resolve(self, options: SearchOptions, timeout_s: float | None = None) -> ResolvedOptions:
        """Fill defaults from config and reject values no search could honour."""
        return resolve_search_options(options, self._config.search, timeout_s)

    def _check_compatible(self, model_version: int) -> None:
        """Codes of different model versions live in different spaces: never compare them."""
        indexed = self._catalog.model_versions()
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
        ctx = IndexContext(
            path=path, video_id=video_id, title=title, tags=tags, source=source,
            content_sha256=content_sha256, model_version=model_version,
            budget=budget if budget is not None else RequestBudget.unlimited(),
        )
        stages = build_index_pipeline(
            self.decoder, self.models, self._catalog, self._write_lock,
            reject_duplicates=self._config.catalog.duplicate_policy == "reject",
        )
        timings = self.runner.run("index", stages, ctx)
        frames = len(ctx.decoded.frames) if ctx.decoded is not None else 0
        log.info("indexed video", extra={"video_id": video_id, "frames": frames,
                                         "timings": timings})
        return self._indexed(ctx)

    def store_encoded(
        self, contexts: Sequence[IndexContext]
    ) -> list[IndexResult | DuplicateContentError]:
        """The last stage of ``index_video`` for videos encoded elsewhere (a backfill's
        encode actors), in one catalog write: each passes the same duplicate check on its
        own (a refused one gets its error, in its place), the rest are written together."""
        upsert = CatalogUpsert(self._catalog, self._write_lock,
                               reject_duplicates=self._config.catalog.duplicate_policy == "reject")
        checked: dict[str, VideoRecord] = {}
        digests: dict[str, str] = {}
        refused: dict[str, DuplicateContentError] = {}
        for ctx in contexts:
            try:
                checked[ctx.video_id] = record = upsert.checked(ctx, digests)
                digests.setdefault(record.content_sha256, ctx.video_id)
            except DuplicateContentError as exc:
                refused[ctx.video_id] = exc
        written = [ctx for ctx in contexts if ctx.video_id in checked]
        if written:
            upsert.write(written, [checked[ctx.video_id] for ctx in written])
        results = [refused.get(ctx.video_id) or self._result(ctx) for ctx in contexts]
        self._refresh_gauges()
        return results

    def _indexed(self, ctx: IndexContext) -> IndexResult:
        result = self._result(ctx)
        self._refresh_gauges()
        return result

    def _result(self, ctx: IndexContext) -> IndexResult:
        info = read_back(self._catalog, ctx.video_id)
        return IndexResult(video=info, replaced=ctx.replaced, duplicate_of=ctx.duplicate_of)

    def delete_video(self, video_id: str) -> bool:
        with self._write_lock:
            deleted = self._catalog.delete_video(video_id)
        self._refresh_gauges()
        return deleted

    def get_video(self, video_id: str) -> VideoInfo | None:
        return self._catalog.get_video(video_id)

    def list_videos(
        self, only: VideoFilter, page_size: int | None, page_token: str
    ) -> tuple[list[VideoInfo], str]:
        """One page of the indexed videos passing ``only`` (see ``listing``)."""
        return listing.list_videos(self._catalog, only, page_size, page_token)

    def update_video(
        self, video_id: str, *, title: str | None, tags: tuple[str, ...] | None
    ) -> VideoInfo:
        """New title and/or tags for an indexed video, without re-indexing it."""
        with self._write_lock:
            return listing.update_video(self._catalog, video_id, title, tags)

    def search_by_video(
        self,
        path: Path,
        options: SearchOptions,
        *,
        timeout_s: float | None = None,
        budget: RequestBudget | None = None,
    ) -> SearchResult:
        """Near-duplicate search, duration or key-frame matching (``options.mode``);
        ``budget`` (else one of ``timeout_s``) bounds every stage."""
        budget = budget if budget is not None else RequestBudget(timeout_s)
        resolved = self.resolve(options, timeout_s)
        with self._search_slot():
            version = self._encoder.resolved_version(resolved.model_version)
            self._check_compatible(version)
            ctx = SearchContext(path=path, options=resolved, budget=budget)
            stages = build_search_pipeline(
                resolved.mode, self.decoder, self._encoder, self._catalog,
                1.0 / self._config.media.sample_fps,
                alignment=resolved.alignment, background=self._background,
            )
            timings = self.runner.run(f"search_{resolved.mode}", stages, ctx)
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
        """Text search: stage 1 shortlist by embedding (catalog), stage 2 text-conditioned
        score; ``budget`` (else one of ``timeout_s``) bounds every stage as in
        search_by_video."""
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
            ctx = TextSearchContext(options=resolved, version=version, budget=budget)
            stages = build_text_pipeline(
                self._text, self._catalog, rerank=resolved.rerank,
                scorer_batch=self._config.text.scorer_batch,
            )
            timings = self.runner.run("search_text", stages, ctx)
            return TextSearchResult(
                hits=tuple(merge_stages(ctx.candidates, ctx.rescored, resolved.top_k)),
                keywords=ctx.require_query().keywords,
                model_version=version,
                stage_seconds=timings,
            )

    def recommend(self, video_id: str, k: int | None = None) -> list[tuple[VideoInfo, float]]:
        """Recommendations: the k videos most similar to an indexed one (5 by default)."""
        limit = k if k is not None else self._config.search.recommend_k
        if not 1 <= limit <= 100:
            raise InvalidRequestError(f"k must be between 1 and 100, got {limit}")
        ctx = RecommendContext(video_id=video_id, limit=limit)
        self.runner.run("recommend", [EmbeddingNeighbours(self._catalog)], ctx)
        return ctx.found

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
            captions=self.models.captioning,
            caption_model_version=self.caption_target() or 0,
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
        target, text_target = self.index_targets(model_version)
        return reindex_catalog(self._catalog.iter_videos(), target, self.index_video,
                               text_target=text_target, caption_target=self.caption_target(),
                               progress=progress)

    def index_targets(self, model_version: int | None = None) -> tuple[int, int | None]:
        """(codes' model version, text models' version or None when text search is off)
        that indexing writes: the versions a video must have to be current."""
        target = self._encoder.resolved_version(model_version)
        return target, self._text.resolved_version() if self._text_search else None

    def caption_target(self) -> int | None:
        """The captioner's version indexing writes (None: captions off or not served now);
        a video captioned by another version is stale."""
        if not self.models.captioning:
            return None
        try:
            return self.models.captions.resolved_version()
        except Exception:  # not served right now: no target, nothing is stale for it
            return None

    def videos(self) -> Iterator[VideoInfo]:
        """Every indexed video's metadata (for re-indexing and backfill plans)."""
        return self._catalog.iter_videos()

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
        self.sentences.close()
        if self._background.catalog is not None:
            self._background.catalog.close()
        self._catalog.close()
        self._backend.close()
