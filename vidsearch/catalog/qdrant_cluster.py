"""The production catalog: two collections on a Qdrant cluster, through qdrant-client.

Same data and write protocol as the Edge catalog (``schema``, ``visibility``):
collections ``<prefix>_videos`` and ``<prefix>_keyframes``; key frames are upserted,
then the video point (commit marker), then stale frames deleted, every step with
``wait=True`` and strong ordering; key-frame hits are post-filtered to committed
generations. One writer per video id at a time (the indexer); readers need no lock.

Verified only against qdrant-client's local mode (``QdrantClient(path=...)`` /
``":memory:"``), since no Qdrant server runs in this project's test environment:
  - collection / payload-index creation calls are accepted and the vector sizes read
    back; search results, thresholds, prefetch + rerank, query batches, filters,
    deletes, counts, facets and persistence behave as asserted by the shared suite.
Not verified at all (local mode accepts and ignores them, or has no such thing):
  - replication_factor, shard_number, write_consistency_factor, write ordering;
  - binary quantization (``always_ram``), ``hnsw_config m=0``, ``exact=False`` and
    ``rescore=False`` (local mode always scores brute force on the float vectors, so
    the claim that BQ scores of ±1 codes equal 128 - 2*Hamming was checked on Qdrant
    Edge, the same engine, not on a server);
  - payload indexes (local mode warns they have no effect);
  - server-side prefetch limit/threshold semantics (cf. qdrant#7159) and gRPC error
    codes; the mapping to ``CatalogUnavailableError`` is tested only with refused
    connections (REST and gRPC) to a closed local port.

Faults: with ``wait_for_server`` an unreachable server at start-up is not fatal: the
catalog connects on the first call that needs it (and on each :meth:`is_ready`), so a
serving process starts NOT_SERVING and recovers by itself when Qdrant comes back.
Deadlines: searches pass what is left of the request's budget as qdrant-client's
``timeout`` (whole seconds, rounded up: the client takes ints) and check it first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client import models as m

from vidsearch.catalog import schema as sc
from vidsearch.catalog.base import (
    CatalogStats,
    CatalogUnavailableError,
    KeyFrameHit,
    TextCandidate,
    VideoCandidate,
    VideoInfo,
    VideoNotFoundError,
    VideoRecord,
)
from vidsearch.catalog.qdrant_cluster_backup import ClusterBackupMixin
from vidsearch.catalog.qdrant_cluster_store import (
    Topology,
    client_errors,
    create_collections,
    existing_dims,
)
from vidsearch.catalog.visibility import (
    RawFrameHit,
    ReadWriteLock,
    kth_similarity,
    visible_keyframes,
)
from vidsearch.deadline import RequestBudget

log = logging.getLogger(__name__)

_BATCH = 256
_KNN_SLACK = 8  # extra neighbours asked for, in case some are uncommitted frames
# The hash vectors have no HNSW graph (m=0), so a non-"exact" search is still a full scan,
# but over the binary-quantized codes (xor/popcount), which is exact for ±1 vectors:
# 4x faster than exact=True (which skips the quantization), same results (BENCHMARKS.md).
# Rescoring ±1 codes after binary quantization would add nothing.
_FULL_SCAN = m.SearchParams(exact=False, quantization=m.QuantizationSearchParams(rescore=False))
_STRONG = m.WriteOrdering.STRONG


def _match(field: str, value: Any) -> m.FieldCondition:
    return m.FieldCondition(key=field, match=m.MatchValue(value=value))


class QdrantClusterCatalog(ClusterBackupMixin):
    """Catalog in two collections of a Qdrant deployment; owns ``client`` by default.

    Backup and restore: ``ClusterBackupMixin`` (``snapshot`` / ``restore``).
    """

    def __init__(
        self,
        client: QdrantClient,
        *,
        prefix: str = "vidsearch",
        texture_dim: int | None = None,
        embedding_dim: int | None = None,
        text_dim: int | None = None,
        replication_factor: int = 2,
        shard_number: int = 3,
        write_consistency_factor: int | None = None,
        owns_client: bool = True,
        location: str = "",
        wait_for_server: bool = False,
    ) -> None:
        self._client = client
        self._owns_client = owns_client
        self._location = location  # the URL, for messages
        self._names = {store: f"{prefix}_{store}" for store in (sc.VIDEOS, sc.KEYFRAMES)}
        self._topology = Topology(replication_factor, shard_number, write_consistency_factor)
        self._texture_dim = texture_dim
        self._embedding_dim, self._text_dim = embedding_dim, text_dim
        self._lock = ReadWriteLock()
        self._clock = sc.GenerationClock()
        self._dims: sc.Dims | None = None
        self._connected = False
        self._connecting = threading.Lock()
        try:
            self._connect()
        except CatalogUnavailableError as exc:
            if not wait_for_server:
                raise
            log.warning("catalog not reachable yet, will retry on use: %s", exc)

    def _errors(self, what: str) -> AbstractContextManager[None]:
        return client_errors(what, self._location)

    def _connect(self) -> None:
        """Read (or create) the collections; raises CatalogUnavailableError when down."""
        if self._connected:  # the common case, without the lock
            return
        with self._connecting:
            if self._connected:
                return
            with self._errors("opening catalog"):
                names = self._names
                wanted = (self._texture_dim, self._embedding_dim, self._text_dim)
                dims = existing_dims(self._client, names[sc.VIDEOS], *wanted)
                if dims is None and self._texture_dim is not None:
                    dims = sc.Dims(self._texture_dim, self._embedding_dim, self._text_dim)
                if dims is not None:
                    self._create(dims)
            self._connected = True

    @contextmanager
    def _using(self, what: str, budget: RequestBudget | None = None) -> Iterator[None]:
        """Connected, with errors mapped; a failure after the deadline passed is reported
        as the deadline (DEADLINE_EXCEEDED), not as Qdrant being down."""
        try:
            with self._errors(what):
                self._connect()
                yield
        except CatalogUnavailableError:
            if budget is not None:
                budget.check(what)
            raise

    def is_ready(self) -> bool:
        """One cheap round trip (does the videos collection exist?); never raises."""
        if self._lock.closed:
            return False
        try:
            with self._using("readiness check"):
                self._client.collection_exists(self._names[sc.VIDEOS])
            return True
        except Exception as exc:
            log.debug("catalog not ready: %s", exc)
            return False

    def _create(self, dims: sc.Dims) -> None:
        create_collections(self._client, self._names, dims, self._topology)
        self._dims = dims

    def close(self) -> None:
        if self._lock.close() and self._owns_client:
            self._client.close()

    def __enter__(self) -> QdrantClusterCatalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes --------------------------------------------------------------------

    def upsert_video(self, video: VideoRecord) -> None:
        """Key frames first, the video point (commit marker) next, stale frames last."""
        with self._lock.writing(), self._using(f"upsert {video.video_id}"):
            if self._dims is None:
                dims = sc.Dims(int(np.size(video.texture)), self._embedding_dim, self._text_dim)
                sc.check_record(video, dims)
                self._create(dims)
            assert self._dims is not None
            sc.check_record(video, self._dims)
            generation = self._clock.next()
            frames, videos = self._names[sc.KEYFRAMES], self._names[sc.VIDEOS]
            points = [
                m.PointStruct(id=i, vector=v, payload=p)
                for i, v, p in sc.keyframe_points(video, generation)
            ]
            for start in range(0, len(points), _BATCH):
                chunk = points[start : start + _BATCH]
                self._client.upsert(frames, chunk, wait=True, ordering=_STRONG)
            marker = m.PointStruct(
                id=sc.video_point_id(video.video_id),
                vector=sc.video_vectors(video),
                payload=sc.video_payload(video, generation),
            )
            self._client.upsert(videos, [marker], wait=True, ordering=_STRONG)
            stale = m.Filter(
                must=[_match(sc.F_VIDEO_ID, video.video_id)],
                must_not=[_match(sc.F_GENERATION, generation)],
            )
            self._client.delete(frames, m.FilterSelector(filter=stale), wait=True, ordering=_STRONG)

    def delete_video(self, video_id: str) -> bool:
        """The video point goes first, so its key frames are invisible before they go."""
        with self._lock.writing(), self._using(f"delete {video_id}"):
            if self._dims is None:
                return False
            point = sc.video_point_id(video_id)
            videos, frames = self._names[sc.VIDEOS], self._names[sc.KEYFRAMES]
            existed = bool(self._client.retrieve(videos, [point], with_payload=False))
            self._client.delete(videos, m.PointIdsList(points=[point]), wait=True, ordering=_STRONG)
            mine = m.Filter(must=[_match(sc.F_VIDEO_ID, video_id)])
            self._client.delete(frames, m.FilterSelector(filter=mine), wait=True, ordering=_STRONG)
            return existed

    # -- reads ---------------------------------------------------------------------

    def get_video(self, video_id: str) -> VideoInfo | None:
        with self._lock.reading(), self._using("get_video"):
            if self._dims is None:
                return None
            found = self._client.retrieve(
                self._names[sc.VIDEOS], [sc.video_point_id(video_id)], with_payload=sc.INFO_FIELDS
            )
            return sc.info_from_payload(found[0].payload or {}) if found else None

    def iter_videos(self, batch: int = 256) -> Iterator[VideoInfo]:
        offset: Any = None
        while True:
            with self._lock.reading(), self._using("iter_videos"):
                if self._dims is None:
                    return
                points, offset = self._client.scroll(
                    self._names[sc.VIDEOS], limit=batch, offset=offset, with_payload=sc.INFO_FIELDS
                )
            for point in points:
                yield sc.info_from_payload(point.payload or {})
            if offset is None:
                return

    def find_by_content(self, content_sha256: str, limit: int = 16) -> list[str]:
        with self._lock.reading(), self._using("find_by_content"):
            if self._dims is None or not content_sha256:
                return []
            points, _ = self._client.scroll(
                self._names[sc.VIDEOS],
                scroll_filter=m.Filter(must=[_match(sc.F_CONTENT_SHA256, content_sha256)]),
                limit=limit,
                with_payload=[sc.F_VIDEO_ID],
            )
            return sorted(str((p.payload or {}).get(sc.F_VIDEO_ID, "")) for p in points)

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
    ) -> list[VideoCandidate]:
        """One query: exact hash scan (threshold, top ``coarse_limit``) then texture rerank."""
        with self._lock.reading(), self._using("search_videos", budget):
            if self._dims is None:
                return []
            code, tex = sc.check_query(hash_bits, texture, self._dims, rows=False)
            coarse = m.Prefetch(
                query=code.tolist(),
                using=sc.VEC_HASH,
                limit=coarse_limit,
                params=_FULL_SCAN,
                score_threshold=sc.score_threshold(max_hamming),
            )
            sc.check_limits(coarse_limit, limit)
            found = self._client.query_points(
                self._names[sc.VIDEOS],
                query=tex.tolist(),
                using=sc.VEC_TEXTURE,
                prefetch=[coarse],
                search_params=_FULL_SCAN,
                limit=limit,
                with_payload=sc.INFO_FIELDS,
                with_vectors=[sc.VEC_HASH],
                timeout=_timeout(budget, "the catalog's video search"),
            ).points
        out = []
        for point in found:
            vectors: Any = point.vector or {}
            hamming = sc.hamming(vectors[sc.VEC_HASH], code)
            cand = VideoCandidate(sc.info_from_payload(point.payload or {}), hamming, point.score)
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
    ) -> list[list[KeyFrameHit]]:
        """Query batches of exact hash scans, one per query frame, committed frames only."""
        with self._lock.reading(), self._using("search_keyframes", budget):
            if self._dims is None:
                return [[] for _ in range(len(hash_bits))]
            codes, texs = sc.check_query(hash_bits, texture, self._dims, rows=True)
            threshold = sc.score_threshold(max_hamming)
            sc.check_limits(limit_per_frame)

            def query(pins: Mapping[str, int]) -> list[list[RawFrameHit]]:
                flt = _pin_filter(pins)
                out: list[list[RawFrameHit]] = []
                for start in range(0, len(codes), _BATCH):
                    requests = [
                        m.QueryRequest(
                            query=c.tolist(),
                            using=sc.VEC_HASH,
                            filter=flt,
                            limit=limit_per_frame,
                            score_threshold=threshold,
                            params=_FULL_SCAN,
                            with_payload=[sc.F_VIDEO_ID, sc.F_TIME_S, sc.F_GENERATION],
                            with_vector=[sc.VEC_TEXTURE],
                        )
                        for c in codes[start : start + _BATCH]
                    ]
                    rows = self._client.query_batch_points(
                        self._names[sc.KEYFRAMES],
                        requests,
                        timeout=_timeout(budget, "the catalog's key-frame search"),
                    )
                    out.extend([_raw_hit(p) for p in row.points] for row in rows)
                return out

            return visible_keyframes(query, self._committed, texs, limit_per_frame)

    def _committed(self, video_ids: set[str]) -> dict[str, int]:
        if not video_ids:
            return {}
        found = self._client.retrieve(
            self._names[sc.VIDEOS],
            [sc.video_point_id(v) for v in video_ids],
            with_payload=[sc.F_VIDEO_ID, sc.F_GENERATION],
        )
        return {
            str(r.payload[sc.F_VIDEO_ID]): int(r.payload[sc.F_GENERATION])
            for r in found
            if r.payload
        }

    def keyframe_vectors(
        self, video_ids: Iterable[str], *, budget: RequestBudget | None = None
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Committed key frames of each video: one scroll over a generation-pinned filter."""
        with self._lock.reading(), self._using("keyframe_vectors", budget):
            if budget is not None:
                budget.check("reading the candidates' key frames")
            if self._dims is None:
                return {}
            committed = self._committed(set(video_ids))
            if not committed:
                return {}
            flt = m.Filter(
                should=[
                    m.Filter(must=[_match(sc.F_VIDEO_ID, v), _match(sc.F_GENERATION, g)])
                    for v, g in committed.items()
                ]
            )
            points: list[tuple[Any, Any]] = []
            offset: Any = None
            while True:
                page, offset = self._client.scroll(
                    self._names[sc.KEYFRAMES],
                    scroll_filter=flt,
                    limit=_BATCH,
                    offset=offset,
                    with_payload=[sc.F_VIDEO_ID, sc.F_TIME_S],
                    with_vectors=[sc.VEC_TEXTURE],
                    timeout=_timeout(budget, "reading the candidates' key frames"),
                )
                points.extend((p.payload or {}, p.vector or {}) for p in page)
                if offset is None:
                    break
            return sc.keyframe_arrays(points, self._dims.texture)

    def kth_neighbour_similarity(
        self, textures: np.ndarray, k: int, *, budget: RequestBudget | None = None
    ) -> np.ndarray:
        """Query batches of exact texture scans; uncommitted frames (a write in progress or
        a crashed one) are dropped, with ``_KNN_SLACK`` extra hits asked for to cover them."""
        with self._lock.reading(), self._using("kth_neighbour_similarity", budget):
            if self._dims is None:
                return np.full(len(textures), np.nan, dtype=np.float32)
            texs = sc.check_textures(textures, self._dims, k)
            raw: list[list[RawFrameHit]] = []
            for start in range(0, len(texs), _BATCH):
                requests = [
                    m.QueryRequest(
                        query=t.tolist(),
                        using=sc.VEC_TEXTURE,
                        limit=k + _KNN_SLACK,
                        params=m.SearchParams(exact=True),
                        with_payload=[sc.F_VIDEO_ID, sc.F_TIME_S, sc.F_GENERATION],
                        with_vector=[sc.VEC_TEXTURE],
                    )
                    for t in texs[start : start + _BATCH]
                ]
                rows = self._client.query_batch_points(
                    self._names[sc.KEYFRAMES],
                    requests,
                    timeout=_timeout(budget, "the background key-frame search"),
                )
                raw.extend([_raw_hit(p) for p in row.points] for row in rows)
            committed = self._committed({h.video_id for row in raw for h in row})
        return kth_similarity(raw, committed, texs, k)

    def sibling(self, prefix: str) -> QdrantClusterCatalog:
        """Another catalog (collections ``<prefix>_*``) on this one's client and topology,
        e.g. the background set; closing it leaves the client open."""
        return QdrantClusterCatalog(
            self._client,
            prefix=prefix,
            texture_dim=None,
            embedding_dim=self._embedding_dim,
            text_dim=None,
            replication_factor=self._topology.replication_factor,
            shard_number=self._topology.shard_number,
            write_consistency_factor=self._topology.write_consistency_factor,
            owns_client=False,
            location=self._location,
            wait_for_server=True,
        )

    def nearest_by_embedding(self, video_id: str, limit: int) -> list[tuple[VideoInfo, float]]:
        """Cosine neighbours of a video's stored embedding; [] when it has none."""
        with self._lock.reading(), self._using("nearest_by_embedding"):
            if self._dims is None:
                raise VideoNotFoundError(video_id)
            point, name = sc.video_point_id(video_id), self._names[sc.VIDEOS]
            want = [sc.VEC_EMBEDDING] if self._dims.embedding else False
            found = self._client.retrieve(name, [point], with_payload=False, with_vectors=want)
            if not found:
                raise VideoNotFoundError(video_id)
            vectors: Any = found[0].vector or {}
            if sc.VEC_EMBEDDING not in vectors or limit < 1:
                return []
            hits = self._client.query_points(
                name,
                query=vectors[sc.VEC_EMBEDDING],
                using=sc.VEC_EMBEDDING,
                limit=limit,
                query_filter=m.Filter(must_not=[m.HasIdCondition(has_id=[point])]),
                with_payload=sc.INFO_FIELDS,
            ).points
            return [(sc.info_from_payload(h.payload or {}), float(h.score)) for h in hits]

    def has_text_vectors(self) -> bool:
        """Whether this catalog stores seed 003 text vectors (fixed when it is created)."""
        return self._dims.text is not None if self._dims else self._text_dim is not None

    def search_text(
        self,
        embedding: np.ndarray,
        *,
        limit: int,
        model_version: int,
        budget: RequestBudget | None = None,
    ) -> list[TextCandidate]:
        """Cosine neighbours of a text embedding with their stored stage 2 features."""
        with self._lock.reading(), self._using("search_text", budget):
            query = None if self._dims is None else sc.check_text_query(
                embedding, self._dims, limit)
            if query is None:
                return []
            hits = self._client.query_points(
                self._names[sc.VIDEOS],
                query=query.tolist(),
                using=sc.VEC_TEXT,
                limit=limit,
                query_filter=m.Filter(must=[_match(sc.F_TEXT_VERSION, model_version)]),
                with_payload=sc.TEXT_FIELDS,
                with_vectors=[sc.VEC_TEXT],
                timeout=_timeout(budget, "the catalog's text search"),
            ).points
        out = []
        for h in hits:
            vectors: Any = h.vector or {}
            payload = h.payload or {}
            out.append(TextCandidate(sc.info_from_payload(payload), float(h.score),
                                     sc.text_from_point(payload, vectors)))
        return out

    def stats(self) -> CatalogStats:
        with self._lock.reading(), self._using("stats"):
            if self._dims is None:
                return CatalogStats(0, 0)
            videos, frames = self._names[sc.VIDEOS], self._names[sc.KEYFRAMES]
            facet = self._client.facet(videos, sc.F_MODEL_VERSION, limit=1000, exact=True)
            return CatalogStats(
                videos=self._client.count(videos, exact=True).count,
                keyframes=self._client.count(frames, exact=True).count,
                model_versions=tuple(sorted(int(h.value) for h in facet.hits)),
            )


def _timeout(budget: RequestBudget | None, where: str) -> int | None:
    """qdrant-client's per-call timeout from the request's budget (None: client default)."""
    return None if budget is None else budget.whole_seconds_for(where)


def _pin_filter(pins: Mapping[str, int]) -> m.Filter | None:
    """Frames of pinned videos only in the pinned generation; others unrestricted."""
    if not pins:
        return None
    pinned: list[m.Condition] = [
        m.Filter(must=[_match(sc.F_VIDEO_ID, v), _match(sc.F_GENERATION, g)])
        for v, g in pins.items()
    ]
    others = m.FieldCondition(key=sc.F_VIDEO_ID, match=m.MatchAny(any=list(pins)))
    return m.Filter(should=[*pinned, m.Filter(must_not=[others])])


def _raw_hit(point: m.ScoredPoint) -> RawFrameHit:
    payload = point.payload or {}
    vectors: Any = point.vector or {}
    return RawFrameHit(
        str(payload[sc.F_VIDEO_ID]),
        int(payload[sc.F_GENERATION]),
        float(payload[sc.F_TIME_S]),
        float(point.score),
        vectors[sc.VEC_TEXTURE],
    )
