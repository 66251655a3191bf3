"""The catalog in Qdrant, written once over a point store (Qdrant Edge, or qdrant-client).

Every ``Catalog`` method lives here; the engine is a ``PointStore`` adapter
(``point_store``) that only translates point operations. What the catalog does:

- **Write protocol** (``visibility``): key frames of a new generation first, flushed;
  the video point (the commit marker naming that generation) next, flushed; stale
  frames last. After a crash the store holds the old version or the new one, plus at
  worst invisible stale frames. Writers of one catalog take turns; readers never wait.
- **Coarse filter, then rerank**: one query whose prefetch is a full scan of the ±1
  hash codes (no HNSW graph; binary quantization, exact for ±1 codes, scores
  128 - 2*Hamming) under a score threshold, reranked by exact texture distance.
- **Key frames**: batches of hash scans, post-filtered to committed generations.
- **Background normalisation**: the k-th nearest committed key frame (exact).
- **Text search** and **recommendations**: cosine neighbours (HNSW: approximate).
- **Sentence search** (``sentences``): cosine neighbours of caption sentence vectors,
  and the same among captions holding a query word (full-text payload index).
- **Backups**: the logical archive of ``snapshots``, restored beside the live catalog
  and swapped in where the engine can (``StagedRestore``: Edge), else in place.

Deadlines: each query first checks the request's budget and passes what is left as the
engine's timeout (qdrant-client takes whole seconds; Edge runs in-process and cannot be
interrupted, so the check before each call is what stops a late request).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from qdrant_client import models as m

from vidsearch.catalog import filters
from vidsearch.catalog import schema as sc
from vidsearch.catalog.base import (
    CatalogStats,
    CatalogUnavailableError,
    KeyFrameHit,
    TagFeature,
    TextCandidate,
    VideoCandidate,
    VideoFilter,
    VideoInfo,
    VideoNotFoundError,
    VideoRecord,
)
from vidsearch.catalog.hash_index import HashIndex
from vidsearch.catalog.point_store import PointStore, ScoredPoint, generation_of, match
from vidsearch.catalog.sentences import SentenceSearch
from vidsearch.catalog.snapshot_chunks import StoredPoint
from vidsearch.catalog.snapshots import (
    CatalogNotEmptyError,
    Progress,
    SnapshotError,
    SnapshotManifest,
    SnapshotReader,
    load_archive,
    write_snapshot,
)
from vidsearch.catalog.tags import TagLibrary
from vidsearch.catalog.visibility import (
    RawFrameHit,
    ReadWriteLock,
    kth_similarity,
    visible_keyframes,
)
from vidsearch.deadline import RequestBudget

log = logging.getLogger(__name__)

BATCH = 256  # points a write sends, queries a batch holds, points a page returns
KNN_SLACK = 8  # extra neighbours asked for, in case some are uncommitted frames
# Other processes may write to a shared cluster: cached model versions expire.
MODEL_VERSIONS_MAX_AGE_S = 5.0
STORE_SIZES_MAX_AGE_S = 5.0  # the coarse filter's scan-or-graph choice reads them
EXACT = m.SearchParams(exact=True)
FRAME_FIELDS = [sc.F_VIDEO_ID, sc.F_TIME_S, sc.F_GENERATION]


class StagedRestore(Protocol):
    """A restore that loads the archive beside the live catalog and swaps it in whole
    (Edge: a directory renamed into place). Without one, the stores are replaced in place."""

    def stage(self, reader: SnapshotReader, progress: Progress | None) -> Path:
        """Load and verify the archive beside the live catalog; where it is."""
        ...

    def swap_in(self, staged: Path) -> None:
        """Put the staged catalog in place of the live one (nothing reads meanwhile)."""
        ...

    def discard(self, staged: Path) -> None:
        """Remove what a refused or failed swap left behind."""
        ...


class QdrantCatalog(SentenceSearch):
    """``Catalog`` and ``CatalogSnapshots`` over a point store; safe for concurrent
    readers and one writer (caption sentence search: ``sentences``).

    Sizes may be None: an existing catalog knows its own, a new one takes its texture
    size from its first video. With ``wait_for_server`` an unreachable store at start-up
    is not fatal: the catalog connects on the first call that needs it (and on each
    :meth:`is_ready`), so a serving process starts NOT_SERVING and recovers by itself.
    """

    def __init__(
        self,
        store: PointStore,
        *,
        texture_dim: int | None = None,
        embedding_dim: int | None = None,
        text_dim: int | None = None,
        sentence_dim: int | None = None,
        staged_restore: StagedRestore | None = None,
        wait_for_server: bool = False,
        hash_index: HashIndex | None = None,
    ) -> None:
        self.store = store
        self.hash_index = hash_index or HashIndex()
        self._sizes: dict[str, tuple[int, float]] = {}
        self._wanted = sc.WantedDims(texture_dim, embedding_dim, text_dim, sentence_dim)
        self._staged_restore = staged_restore
        self._lock = ReadWriteLock()
        self._clock = sc.GenerationClock()
        self._versions = _ModelVersions(MODEL_VERSIONS_MAX_AGE_S)
        self._dims: sc.Dims | None = None
        self._connected = False
        self._connecting = threading.Lock()
        try:
            with store.errors("opening catalog"):
                self._connect()
        except CatalogUnavailableError as exc:
            if not wait_for_server:
                raise
            log.warning("catalog not reachable yet, will retry on use: %s", exc)

    def _connect(self) -> None:
        """Open (or create) the stores once; raises CatalogUnavailableError when down."""
        if self._connected:  # the common case, without the lock
            return
        with self._connecting:
            if self._connected:
                return
            dims = self.store.open(self._wanted)
            if dims is None:
                dims = self._wanted.for_new()
                if dims is not None:
                    self.store.create(dims)
            self._dims = dims
            self._connected = True

    @contextmanager
    def _using(self, what: str, budget: RequestBudget | None = None) -> Iterator[None]:
        """Connected, with errors mapped; a failure after the deadline passed is reported
        as the deadline (DEADLINE_EXCEEDED), not as the store being down."""
        try:
            with self.store.errors(what):
                self._connect()
                yield
        except CatalogUnavailableError:
            if budget is not None:
                budget.check(what)
            raise

    def is_ready(self) -> bool:
        """One cheap call to the store (none for Edge); never raises."""
        if self._lock.closed:
            return False
        try:
            with self._using("readiness check"):
                self.store.ping()
            return True
        except Exception as exc:
            log.debug("catalog not ready: %s", exc)
            return False

    def close(self) -> None:
        if self._lock.close():
            with self.store.errors("closing catalog"):
                self.store.close()

    def __enter__(self) -> QdrantCatalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def optimize(self) -> bool:
        """After bulk indexing: build what the engine deferred (Edge: the quantization)."""
        with self._lock.writing(), self._using("optimize"):
            return self.store.optimize()

    # -- writes --------------------------------------------------------------------

    def upsert_video(self, video: VideoRecord) -> None:
        """Key frames first, the video point (commit marker) next, stale frames last."""
        self.upsert_videos([video])

    def upsert_videos(self, videos: Sequence[VideoRecord]) -> None:
        """``upsert_video`` for many videos, each step once for all of them (one flush per
        step, not per video: a bulk load's flushes dominate its write time); each video is
        still visible whole or not at all, and a crash leaves each old or new."""
        if not videos:
            return
        ids = [v.video_id for v in videos]
        if len(set(ids)) != len(ids):
            raise ValueError("a batch of videos must not name an id twice")
        with self._lock.writing(), self._using(f"upsert {', '.join(ids[:3])}"):
            if self._dims is None:
                dims = self._wanted.for_new(int(np.size(videos[0].texture)))
                assert dims is not None
                sc.check_record(videos[0], dims)
                self.store.create(dims)
                self._dims = dims
            for video in videos:
                sc.check_record(video, self._dims)
            generations = [self._clock.next() for _ in videos]
            frames = [StoredPoint(*p) for video, generation in zip(videos, generations, strict=True)
                      for p in sc.keyframe_points(video, generation)]  # fmt: skip
            points = [sc.video_point_id(video.video_id) for video in videos]
            old = self.store.retrieve(sc.VIDEOS, points, payload=sc.INFO_FIELDS, vectors=False)
            created = {info.video_id: info.created_at
                       for info in (sc.info_from_payload(p.payload) for p in old)}  # fmt: skip
            markers = [
                StoredPoint(point, sc.video_vectors(video),
                            sc.video_payload(video, generation, created.get(video.video_id)))
                for point, video, generation in zip(points, videos, generations, strict=True)
            ]  # fmt: skip
            with self._versions.changing():
                for start in range(0, len(frames), BATCH):
                    self.store.upsert(sc.KEYFRAMES, frames[start : start + BATCH])
                self.store.flush(sc.KEYFRAMES)
                for start in range(0, len(markers), BATCH):
                    self.store.upsert(sc.VIDEOS, markers[start : start + BATCH])
                self.store.flush(sc.VIDEOS)
                for video, generation in zip(videos, generations, strict=True):
                    self.store.delete(sc.KEYFRAMES, m.Filter(
                        must=[match(sc.F_VIDEO_ID, video.video_id)],
                        must_not=[match(sc.F_GENERATION, generation)],
                    ))  # fmt: skip
                self.store.flush(sc.KEYFRAMES)

    def delete_video(self, video_id: str) -> bool:
        """The video point goes first, so its key frames are invisible before they go."""
        with self._lock.writing(), self._using(f"delete {video_id}"):
            if self._dims is None:
                return False
            point = sc.video_point_id(video_id)
            existed = bool(self.store.retrieve(sc.VIDEOS, [point], payload=False, vectors=False))
            with self._versions.changing():
                self.store.delete(sc.VIDEOS, [point])
                self.store.flush(sc.VIDEOS)
                self.store.delete(sc.KEYFRAMES, m.Filter(must=[match(sc.F_VIDEO_ID, video_id)]))
                self.store.flush(sc.KEYFRAMES)
            return existed

    # -- reads ---------------------------------------------------------------------

    def get_video(self, video_id: str) -> VideoInfo | None:
        with self._lock.reading(), self._using("get_video"):
            if self._dims is None:
                return None
            found = self.store.retrieve(
                sc.VIDEOS, [sc.video_point_id(video_id)], payload=sc.INFO_FIELDS, vectors=False
            )
            return sc.info_from_payload(found[0].payload) if found else None

    def get_videos(
        self, video_ids: Sequence[str], *, budget: RequestBudget | None = None
    ) -> dict[str, VideoInfo]:
        """One retrieve for all of them (a search's candidates)."""
        where = "reading the candidate videos"
        if budget is not None:
            budget.check(where)
        with self._lock.reading(), self._using(where, budget):
            if self._dims is None or not video_ids:
                return {}
            points = [sc.video_point_id(v) for v in dict.fromkeys(video_ids)]
            found = self.store.retrieve(sc.VIDEOS, points, payload=sc.INFO_FIELDS, vectors=False)
        infos = (sc.info_from_payload(p.payload) for p in found if p.payload)
        return {info.video_id: info for info in infos}

    def iter_videos(self, batch: int = 256) -> Iterator[VideoInfo]:
        request = m.ScrollRequest(limit=batch, with_payload=sc.INFO_FIELDS, with_vector=False)
        for page in self._pages(sc.VIDEOS, "iter_videos", request):
            yield from (sc.info_from_payload(p.payload) for p in page)

    def list_videos(
        self, only: VideoFilter | None, *, page_size: int, offset: str | None = None,
        budget: RequestBudget | None = None,
    ) -> tuple[list[VideoInfo], str | None]:
        """One scroll page of the videos passing ``only`` (filtered by the store, on
        indexed fields), in point id order, and the next page's offset."""
        sc.check_limits(page_size)
        where = "listing videos"
        with self._lock.reading(), self._using(where, budget):
            if self._dims is None:
                return [], None
            request = m.ScrollRequest(limit=page_size, offset=offset,
                                      filter=filters.videos_filter(only),
                                      with_payload=sc.INFO_FIELDS, with_vector=False)
            page, next_offset = self.store.scroll(sc.VIDEOS, request, _timeout(budget, where))
        infos = [sc.info_from_payload(p.payload) for p in page]
        return infos, None if next_offset is None else str(next_offset)

    def _video_ids(self, only: VideoFilter, budget: RequestBudget | None) -> list[str]:
        """Ids of the videos passing ``only``: key-frame points carry no title or tags, so
        a key-frame search is restricted by video id (the store finds them)."""
        if only.video_ids and not (only.tags or only.title_prefix
                                   or only.model_version is not None):
            return list(only.video_ids)
        request = m.ScrollRequest(limit=BATCH, filter=filters.videos_filter(only),
                                  with_payload=[sc.F_VIDEO_ID], with_vector=False)
        pages = self._pages(sc.VIDEOS, "filtering videos", request, budget)
        return [str(p.payload[sc.F_VIDEO_ID]) for page in pages for p in page]

    def _pages(
        self, store: str, what: str, request: m.ScrollRequest, budget: RequestBudget | None = None
    ) -> Iterator[list[StoredPoint]]:
        """Every point ``request`` selects, a page at a time; each page is read under the
        lock, none is held while the caller works on it."""
        offset: Any = None
        while True:
            with self._lock.reading(), self._using(what, budget):
                if self._dims is None:
                    return
                page_request = request.model_copy(update={"offset": offset})
                page, offset = self.store.scroll(store, page_request, _timeout(budget, what))
            yield page
            if offset is None:
                return

    def find_by_content(self, content_sha256: str, limit: int = 16) -> list[str]:
        with self._lock.reading(), self._using("find_by_content"):
            if self._dims is None or not content_sha256:
                return []
            same_file = m.Filter(must=[match(sc.F_CONTENT_SHA256, content_sha256)])
            points, _ = self.store.scroll(sc.VIDEOS, m.ScrollRequest(
                limit=limit, filter=same_file, with_payload=[sc.F_VIDEO_ID], with_vector=False))
            return sorted(str(p.payload.get(sc.F_VIDEO_ID, "")) for p in points)

    def search_videos(
        self,
        hash_bits: np.ndarray,
        texture: np.ndarray,
        *,
        max_hamming: int | None,
        coarse_limit: int,
        limit: int,
        max_texture_distance: float | None = None,
        budget: RequestBudget | None = None,
        only: VideoFilter | None = None,
    ) -> list[VideoCandidate]:
        """One query: exact hash scan (threshold, top ``coarse_limit``, of the videos
        passing ``only``) then exact texture rerank."""
        where = "the catalog's video search"
        with self._lock.reading(), self._using(where, budget):
            timeout = _timeout(budget, where)
            if self._dims is None:
                return []
            code, tex = sc.check_query(hash_bits, texture, self._dims, rows=False)
            threshold = sc.score_threshold(max_hamming)
            sc.check_limits(coarse_limit, limit)
            params, coarse_limit = self.hash_index.coarse(
                lambda: self._size(sc.VIDEOS), coarse_limit)
            coarse = m.Prefetch(
                query=code.tolist(), using=sc.VEC_HASH, limit=coarse_limit, params=params,
                score_threshold=threshold, filter=filters.videos_filter(only),
            )
            request = m.QueryRequest(
                query=tex.tolist(), using=sc.VEC_TEXTURE, prefetch=[coarse], params=EXACT,
                limit=limit, with_payload=sc.INFO_FIELDS, with_vector=[sc.VEC_HASH],
            )
            [found] = self.store.query_batch(sc.VIDEOS, [request], timeout)
        out = []
        for point in found:
            hamming = sc.hamming(point.vectors[sc.VEC_HASH], code)
            cand = VideoCandidate(sc.info_from_payload(point.payload), hamming, point.score)
            if max_texture_distance is None or cand.texture_distance <= max_texture_distance:
                out.append(cand)
        return out

    def search_keyframes(
        self,
        hash_bits: np.ndarray,
        texture: np.ndarray,
        *,
        max_hamming: int | None,
        limit_per_frame: int,
        budget: RequestBudget | None = None,
        only: VideoFilter | None = None,
    ) -> list[list[KeyFrameHit]]:
        """Batches of exact hash scans, one per query frame, committed frames only (of
        the videos passing ``only``)."""
        where = "the catalog's key-frame search"
        with self._lock.reading(), self._using(where, budget):
            if self._dims is None:
                return [[] for _ in range(len(hash_bits))]
            codes, texs = sc.check_query(hash_bits, texture, self._dims, rows=True)
            threshold = sc.score_threshold(max_hamming)
            sc.check_limits(limit_per_frame)
            params, per_frame = self.hash_index.coarse(
                lambda: self._size(sc.KEYFRAMES), limit_per_frame)
            ids = None if only is None or only.is_empty() else self._video_ids(only, budget)
            if ids == []:  # no video passes: nothing to scan
                return [[] for _ in range(len(codes))]

            def query(pins: Mapping[str, int]) -> list[list[RawFrameHit]]:
                pinned = _pin_filter(pins)
                if ids is not None:
                    selected = filters.keyframes_of(ids)
                    pinned = selected if pinned is None else m.Filter(must=[selected, pinned])
                requests = [
                    m.QueryRequest(
                        query=c.tolist(), using=sc.VEC_HASH, filter=pinned,
                        limit=per_frame, score_threshold=threshold, params=params,
                        with_payload=FRAME_FIELDS, with_vector=[sc.VEC_TEXTURE],
                    )
                    for c in codes
                ]
                return self._query_frames(requests, budget, where)

            return visible_keyframes(query, self._committed, texs, limit_per_frame)

    def _size(self, store: str) -> int:
        """Points in ``store``, counted at most every few seconds (the coarse filter's
        scan-or-graph choice needs the order of magnitude, not the exact count)."""
        size, at = self._sizes.get(store, (0, -STORE_SIZES_MAX_AGE_S))
        if time.monotonic() - at >= STORE_SIZES_MAX_AGE_S:
            size = self.store.count(store)
            self._sizes[store] = (size, time.monotonic())
        return size

    def _query_frames(
        self, requests: list[m.QueryRequest], budget: RequestBudget | None, where: str
    ) -> list[list[RawFrameHit]]:
        """Key-frame queries in batches, the budget checked before each."""
        out: list[list[RawFrameHit]] = []
        for start in range(0, len(requests), BATCH):
            chunk = requests[start : start + BATCH]
            rows = self.store.query_batch(sc.KEYFRAMES, chunk, _timeout(budget, where))
            out.extend([_raw_hit(p) for p in row] for row in rows)
        return out

    def _committed(self, video_ids: set[str]) -> dict[str, int]:
        """Committed generation of each video that exists."""
        if not video_ids:
            return {}
        found = self.store.retrieve(
            sc.VIDEOS,
            [sc.video_point_id(v) for v in video_ids],
            payload=[sc.F_VIDEO_ID, sc.F_GENERATION],
            vectors=False,
        )
        return {
            str(p.payload[sc.F_VIDEO_ID]): int(p.payload[sc.F_GENERATION])
            for p in found
            if p.payload
        }

    def keyframe_vectors(
        self, video_ids: Iterable[str], *, budget: RequestBudget | None = None
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Committed key frames of each video: one scroll over a generation-pinned filter."""
        where = "reading the candidates' key frames"
        with self._lock.reading(), self._using(where, budget):
            if budget is not None:
                budget.check(where)
            if self._dims is None:
                return {}
            committed = self._committed(set(video_ids))
            if not committed:
                return {}
            pinned = m.Filter(should=[generation_of(v, g) for v, g in committed.items()])
            request = m.ScrollRequest(
                limit=BATCH, filter=pinned, with_payload=[sc.F_VIDEO_ID, sc.F_TIME_S],
                with_vector=[sc.VEC_TEXTURE],
            )
            pages = self._pages(sc.KEYFRAMES, where, request, budget)
            points = [(p.payload, p.vectors) for page in pages for p in page]
            return sc.keyframe_arrays(points, self._dims.texture)

    def kth_neighbour_similarity(
        self, textures: np.ndarray, k: int, *, budget: RequestBudget | None = None
    ) -> np.ndarray:
        """Batches of exact texture scans; uncommitted frames (a write in progress or a
        crashed one) are dropped, with ``KNN_SLACK`` extra hits asked for to cover them."""
        where = "the background key-frame search"
        with self._lock.reading(), self._using(where, budget):
            if self._dims is None:
                return np.full(len(textures), np.nan, dtype=np.float32)
            texs = sc.check_textures(textures, self._dims, k)
            requests = [
                m.QueryRequest(
                    query=t.tolist(), using=sc.VEC_TEXTURE, limit=k + KNN_SLACK, params=EXACT,
                    with_payload=FRAME_FIELDS, with_vector=[sc.VEC_TEXTURE],
                )
                for t in texs
            ]
            raw = self._query_frames(requests, budget, where)
            committed = self._committed({h.video_id for row in raw for h in row})
        return kth_similarity(raw, committed, texs, k)

    def nearest_by_embedding(self, video_id: str, limit: int) -> list[tuple[VideoInfo, float]]:
        """Cosine neighbours of a video's stored embedding; [] when it has none."""
        with self._lock.reading(), self._using("nearest_by_embedding"):
            if self._dims is None:
                raise VideoNotFoundError(video_id)
            point = sc.video_point_id(video_id)
            want = [sc.VEC_EMBEDDING] if self._dims.embedding else False
            found = self.store.retrieve(sc.VIDEOS, [point], payload=False, vectors=want)
            if not found:
                raise VideoNotFoundError(video_id)
            vector = found[0].vectors.get(sc.VEC_EMBEDDING)
            if vector is None or limit < 1:
                return []
            request = m.QueryRequest(
                query=list(vector), using=sc.VEC_EMBEDDING, limit=limit,
                filter=m.Filter(must_not=[m.HasIdCondition(has_id=[point])]),
                with_payload=sc.INFO_FIELDS, with_vector=False,
            )
            [hits] = self.store.query_batch(sc.VIDEOS, [request])
            return [(sc.info_from_payload(h.payload), h.score) for h in hits]

    # -- tags (seed 004) -------------------------------------------------------------

    def tag_library(self, dim: int) -> TagLibrary:
        """The live tag library beside this catalog, on the same engine."""
        return TagLibrary(self.store, dim)

    def tag_feature(self, video_id: str) -> TagFeature | None:
        """The tag feature stored with an indexed video (None: indexed without one)."""
        with self._lock.reading(), self._using("reading a tag feature"):
            found = [] if self._dims is None else self.store.retrieve(
                sc.VIDEOS, [sc.video_point_id(video_id)],
                payload=[sc.P_TAG_FEATURE, sc.P_TAG_FEATURE_VERSION, sc.P_TAG_SCENES],
                vectors=False)
        if not found:
            raise VideoNotFoundError(video_id)
        payload = found[0].payload
        if sc.P_TAG_FEATURE not in payload:
            return None
        scenes = payload.get(sc.P_TAG_SCENES)
        return TagFeature(np.asarray(payload[sc.P_TAG_FEATURE], dtype=np.float32),
                          int(payload[sc.P_TAG_FEATURE_VERSION]),
                          None if scenes is None else sc.decode_matrix(scenes))

    def set_video_tags(self, video_id: str, tags: Sequence[str]) -> None:
        self.update_video(video_id, tags=tags)

    def update_video(
        self, video_id: str, *, title: str | None = None, tags: Sequence[str] | None = None
    ) -> VideoInfo:
        """Replace an indexed video's title and/or tags: its point (the commit marker) is
        rewritten whole with the same generation, so a crash leaves the old metadata or
        the new."""
        with self._lock.writing(), self._using(f"updating {video_id}"):
            point = sc.video_point_id(video_id)
            found = [] if self._dims is None else self.store.retrieve(
                sc.VIDEOS, [point], payload=True, vectors=True)
            if not found:
                raise VideoNotFoundError(f"video {video_id!r} is not indexed")
            payload = {**found[0].payload, "updated_at": sc.now_iso()}
            if title is not None:
                payload.update({"title": title, sc.F_TITLE_PREFIXES: sc.title_prefixes(title)})
            if tags is not None:
                payload[sc.F_TAGS] = list(tags)
            self.store.upsert(sc.VIDEOS, [StoredPoint(point, found[0].vectors, payload)])
            self.store.flush(sc.VIDEOS)
        return sc.info_from_payload(payload)

    def videos_with_tag(self, tag: str, limit: int) -> list[VideoInfo]:
        """Indexed videos carrying ``tag`` (exact text), in the store's order."""
        sc.check_limits(limit)
        with self._lock.reading(), self._using("finding videos by tag"):
            if self._dims is None:
                return []
            request = m.ScrollRequest(limit=limit, filter=m.Filter(must=[match(sc.F_TAGS, tag)]),
                                      with_payload=sc.INFO_FIELDS, with_vector=False)
            points, _ = self.store.scroll(sc.VIDEOS, request)
        return [sc.info_from_payload(p.payload) for p in points]

    def has_text_vectors(self) -> bool:
        """Whether this catalog stores text vectors (fixed when it is created)."""
        return self._dims.text is not None if self._dims else self._wanted.text is not None

    def search_text(
        self,
        embedding: np.ndarray,
        *,
        limit: int,
        model_version: int,
        budget: RequestBudget | None = None,
        only: VideoFilter | None = None,
    ) -> list[TextCandidate]:
        """Cosine neighbours of a text embedding with their stored stage 2 features (among
        the videos passing ``only``)."""
        where = "the catalog's text search"
        with self._lock.reading(), self._using(where, budget):
            timeout = _timeout(budget, where)
            query = None if self._dims is None else sc.check_text_query(
                embedding, self._dims, limit)
            if query is None:
                return []
            request = m.QueryRequest(
                query=query.tolist(), using=sc.VEC_TEXT, limit=limit,
                filter=filters.videos_filter(only, match(sc.F_TEXT_VERSION, model_version)),
                with_payload=sc.TEXT_FIELDS, with_vector=[sc.VEC_TEXT],
            )
            [hits] = self.store.query_batch(sc.VIDEOS, [request], timeout)
        return [
            TextCandidate(sc.info_from_payload(h.payload), h.score,
                          sc.text_from_point(h.payload, h.vectors))
            for h in hits
        ]

    def stats(self) -> CatalogStats:
        """Point counts, and the model versions of the stored codes (cached: see
        ``_ModelVersions``)."""
        with self._lock.reading(), self._using("stats"):
            if self._dims is None:
                return CatalogStats(0, 0)
            return CatalogStats(
                videos=self.store.count(sc.VIDEOS),
                keyframes=self.store.count(sc.KEYFRAMES),
                model_versions=self._versions.get(self._facet_versions),
            )

    def model_versions(self) -> tuple[int, ...]:
        """Cached (see ``_ModelVersions``): no count, and a facet only after a write."""
        with self._lock.reading(), self._using("model versions"):
            if self._dims is None:
                return ()
            return self._versions.get(self._facet_versions)

    def _facet_versions(self) -> tuple[int, ...]:
        return tuple(sorted(int(v) for v in self.store.facet(sc.VIDEOS, sc.F_MODEL_VERSION)))

    # -- backups (archive format: ``snapshots``) -------------------------------------

    def snapshot(self, dest: Path, *, progress: Progress | None = None) -> SnapshotManifest:
        """Write a backup archive to ``dest``; this catalog's writers wait, readers go
        on (stop indexers in other processes first: a video they change fails the backup)."""
        with self._lock.writing():
            with self._using("backup"):
                dims = self._dims
            if dims is None:
                raise SnapshotError(f"catalog {self.store.label} is empty: nothing to back up")
            everything = m.ScrollRequest(limit=BATCH, with_payload=True, with_vector=True)
            return write_snapshot(
                dest, dims=dims, backend=self.store.backend, progress=progress,
                export=lambda store: self._pages(store, f"backup of {store}", everything),
            )

    def restore(
        self, archive: Path, *, force: bool = False, progress: Progress | None = None
    ) -> SnapshotManifest:
        """Replace the catalog with a verified archive; refuses a non-empty catalog unless
        ``force``. Staged (see ``StagedRestore``): readers see the old catalog until the
        swap. In place: readers may see a subset of the videos while it loads, each one
        complete; a crash mid-way leaves such a subset (restore again with ``force``)."""
        reader = SnapshotReader(archive)
        self._refuse_overwrite(force)
        with self._versions.changing():
            if self._staged_restore is None:
                self._restore_in_place(reader, force, progress)
            else:
                self._restore_staged(self._staged_restore, reader, force, progress)
        return reader.manifest

    def _restore_in_place(
        self, reader: SnapshotReader, force: bool, progress: Progress | None
    ) -> None:
        with self._lock.writing(), self._using("restore"):
            self._refuse_overwrite(force)
            self.store.drop()
            self._dims = None
            self.store.create(reader.manifest.dims)
            self._dims = reader.manifest.dims
            load_archive(self.store, reader, progress)

    def _restore_staged(
        self, how: StagedRestore, reader: SnapshotReader, force: bool, progress: Progress | None
    ) -> None:
        staged = how.stage(reader, progress)
        try:
            with self._lock.exclusive():
                self._refuse_overwrite(force)  # a write may have landed while staging
                self._dims = None
                with self.store.errors("restore"):
                    try:
                        how.swap_in(staged)
                    finally:  # the new catalog, or the old one if the swap failed
                        self._dims = self.store.open(sc.WantedDims())
        finally:
            how.discard(staged)

    def _refuse_overwrite(self, force: bool) -> None:
        with self._lock.reading(), self._using("counting points"):
            held = {s: self.store.count(s) for s in (sc.VIDEOS, sc.KEYFRAMES)} if self._dims else {}
        if not force and any(held.values()):
            raise CatalogNotEmptyError(
                f"catalog {self.store.label} holds {held.get(sc.VIDEOS, 0)} videos: restoring "
                "would replace them; back them up first, then pass force (--force)"
            )


class _ModelVersions:
    """The catalog's model versions, computed (a facet over every video) only when a write
    of this catalog changed them or they are older than ``max_age_s``: every search asks
    for them, to refuse codes of another model.

    Readers never wait for writers (``ReadWriteLock``), so a reader may see a video a write
    has just made visible before that write ends: while any write is under way the cache is
    bypassed, and a value computed across a write is not kept."""

    def __init__(self, max_age_s: float) -> None:
        self._max_age_s = max_age_s
        self._value: tuple[int, ...] | None = None
        self._at = 0.0
        self._writes = 0  # writes finished
        self._writing = 0  # writes under way
        self._lock = threading.Lock()

    def get(self, compute: Any) -> tuple[int, ...]:
        with self._lock:  # no value is held while a write is under way (``changing``)
            if self._value is not None and time.monotonic() - self._at < self._max_age_s:
                return self._value
            writes = self._writes
        value: tuple[int, ...] = compute()
        with self._lock:  # kept only if no write began or ended meanwhile
            if writes == self._writes and not self._writing:
                self._value, self._at = value, time.monotonic()
        return value

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Around a write that may add or remove a model version."""
        with self._lock:
            self._writing += 1
            self._value = None
        try:
            yield
        finally:
            with self._lock:
                self._writing -= 1
                self._writes += 1
                self._value = None


def _timeout(budget: RequestBudget | None, where: str) -> int | None:
    """The engine's timeout from the request's budget, checked first (None: no deadline)."""
    return None if budget is None else budget.whole_seconds_for(where)


def _pin_filter(pins: Mapping[str, int]) -> m.Filter | None:
    """Frames of pinned videos only in the pinned generation; others unrestricted."""
    if not pins:
        return None
    others = m.Filter(must_not=[m.FieldCondition(key=sc.F_VIDEO_ID,
                                                 match=m.MatchAny(any=list(pins)))])
    return m.Filter(should=[*(generation_of(v, g) for v, g in pins.items()), others])


def _raw_hit(point: ScoredPoint) -> RawFrameHit:
    return RawFrameHit(
        str(point.payload[sc.F_VIDEO_ID]),
        int(point.payload[sc.F_GENERATION]),
        float(point.payload[sc.F_TIME_S]),
        point.score,
        point.vectors[sc.VEC_TEXTURE],
    )
