"""The embedded catalog: two Qdrant Edge shards in one directory (the default backend).

Qdrant Edge is the Qdrant segment engine in-process, so the serving process needs no
database server, and the same query plan (exact hash scan with a score threshold as a
prefetch, texture rerank) runs as on a cluster. Layout: ``qdrant_edge_store``.

Durability: the WAL is on and every write is flushed before it is acknowledged; key
frames are flushed before the video point is written, so after a crash the disk holds
the old version or the new one, plus at worst invisible stale frames (see
``vidsearch.catalog.visibility``). One process owns a directory (Edge locks it).

Deadlines: Edge runs in this process and its calls cannot be given a timeout, so the
request's budget is checked before each query (and between query batches): a late or
cancelled request stops at the next call instead of starting it.

Binary quantization of ``hash`` is configured but, as in Qdrant itself, only built when
segments are optimised: call ``optimize()`` after bulk indexing. Scores of ±1 codes are
exact either way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from vidsearch.catalog import schema as sc
from vidsearch.catalog.base import (
    CatalogStats,
    KeyFrameHit,
    TextCandidate,
    VideoCandidate,
    VideoInfo,
    VideoNotFoundError,
    VideoRecord,
)
from vidsearch.catalog.qdrant_edge_backup import EdgeBackupMixin, finish_interrupted_restore
from vidsearch.catalog.qdrant_edge_store import edge_errors, open_shards, read_dims
from vidsearch.catalog.visibility import (
    RawFrameHit,
    ReadWriteLock,
    kth_similarity,
    visible_keyframes,
)
from vidsearch.deadline import RequestBudget

_BATCH = 512
_KNN_SLACK = 8  # extra neighbours asked for, in case some are uncommitted frames
# The hash vectors have no HNSW graph (m=0), so a non-"exact" search is still a full scan,
# but over the binary-quantized codes (xor/popcount), which is exact for ±1 vectors:
# 4x faster than exact=True (which skips the quantization), same results (BENCHMARKS.md).
# Rescoring ±1 codes after binary quantization would add nothing.
_FULL_SCAN = qe.SearchParams(exact=False, quantization=qe.QuantizationSearchParams(rescore=False))


def _match(field: str, value: Any) -> qe.FieldCondition:
    return qe.FieldCondition(field, match=qe.MatchValue(value))


class QdrantEdgeCatalog(EdgeBackupMixin):
    """Catalog in a local directory; safe for concurrent readers and one writer.

    Backup and restore: ``EdgeBackupMixin`` (``snapshot`` / ``restore``).

    ``texture_dim`` may be None: an existing catalog knows its sizes, a new one takes
    them from its first video.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        texture_dim: int | None = None,
        embedding_dim: int | None = None,
        text_dim: int | None = None,
    ) -> None:
        self._root = Path(path)
        self._lock = ReadWriteLock()
        self._clock = sc.GenerationClock()
        self._embedding_dim, self._text_dim = embedding_dim, text_dim
        self._dims: sc.Dims | None = None
        self._shards: dict[str, qe.EdgeShard] = {}
        finish_interrupted_restore(self._root)
        dims = read_dims(self._root, texture_dim, embedding_dim, text_dim)
        if dims is None and texture_dim is not None:
            dims = sc.Dims(texture_dim, embedding_dim, text_dim)
        if dims is not None:
            self._open(dims)

    def _open(self, dims: sc.Dims) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        self._shards = open_shards(self._root, dims)
        self._dims = dims

    def close(self) -> None:
        if not self._lock.close():
            return
        with edge_errors("closing catalog"):
            for shard in self._shards.values():
                shard.flush()
                shard.close()
        self._shards.clear()

    def __enter__(self) -> QdrantEdgeCatalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def optimize(self) -> bool:
        """Merge segments and build the binary quantization (after bulk indexing)."""
        with self._lock.writing(), edge_errors("optimize"):
            return any([shard.optimize() for shard in self._shards.values()])

    # -- writes --------------------------------------------------------------------

    def upsert_video(self, video: VideoRecord) -> None:
        """Key frames first, the video point (commit marker) next, stale frames last."""
        with self._lock.writing():
            if self._dims is None:
                dims = sc.Dims(int(np.size(video.texture)), self._embedding_dim, self._text_dim)
                sc.check_record(video, dims)
                self._open(dims)
            assert self._dims is not None
            sc.check_record(video, self._dims)
            generation = self._clock.next()
            frames, videos = self._shards[sc.KEYFRAMES], self._shards[sc.VIDEOS]
            points = [qe.Point(i, v, p) for i, v, p in sc.keyframe_points(video, generation)]
            with edge_errors(f"upsert {video.video_id}"):
                for start in range(0, len(points), _BATCH):
                    frames.update(qe.UpdateOperation.upsert_points(points[start : start + _BATCH]))
                frames.flush()
                marker = qe.Point(
                    sc.video_point_id(video.video_id),
                    sc.video_vectors(video),
                    sc.video_payload(video, generation),
                )
                videos.update(qe.UpdateOperation.upsert_points([marker]))
                videos.flush()
                stale = qe.Filter(
                    must=[_match(sc.F_VIDEO_ID, video.video_id)],
                    must_not=[_match(sc.F_GENERATION, generation)],
                )
                frames.update(qe.UpdateOperation.delete_points_by_filter(stale))
                frames.flush()

    def delete_video(self, video_id: str) -> bool:
        """The video point goes first, so its key frames are invisible before they go."""
        with self._lock.writing(), edge_errors(f"delete {video_id}"):
            if self._dims is None:
                return False
            videos, frames = self._shards[sc.VIDEOS], self._shards[sc.KEYFRAMES]
            point = sc.video_point_id(video_id)
            existed = bool(videos.retrieve([point], with_payload=False, with_vector=False))
            videos.update(qe.UpdateOperation.delete_points([point]))
            videos.flush()
            frames.update(
                qe.UpdateOperation.delete_points_by_filter(
                    qe.Filter(must=[_match(sc.F_VIDEO_ID, video_id)])
                )
            )
            frames.flush()
            return existed

    # -- reads ---------------------------------------------------------------------

    def get_video(self, video_id: str) -> VideoInfo | None:
        with self._lock.reading(), edge_errors("get_video"):
            if self._dims is None:
                return None
            found = self._shards[sc.VIDEOS].retrieve(
                [sc.video_point_id(video_id)], with_payload=sc.INFO_FIELDS, with_vector=False
            )
            return sc.info_from_payload(found[0].payload or {}) if found else None

    def iter_videos(self, batch: int = 256) -> Iterator[VideoInfo]:
        offset: Any = None
        while True:
            with self._lock.reading(), edge_errors("iter_videos"):
                if self._dims is None:
                    return
                points, offset = self._shards[sc.VIDEOS].scroll(
                    qe.ScrollRequest(
                        offset=offset, limit=batch, with_payload=sc.INFO_FIELDS, with_vector=False
                    )
                )
            for point in points:
                yield sc.info_from_payload(point.payload or {})
            if offset is None:
                return

    def find_by_content(self, content_sha256: str, limit: int = 16) -> list[str]:
        with self._lock.reading(), edge_errors("find_by_content"):
            if self._dims is None or not content_sha256:
                return []
            points, _ = self._shards[sc.VIDEOS].scroll(
                qe.ScrollRequest(
                    limit=limit,
                    filter=qe.Filter(must=[_match(sc.F_CONTENT_SHA256, content_sha256)]),
                    with_payload=[sc.F_VIDEO_ID],
                    with_vector=False,
                )
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
        with self._lock.reading(), edge_errors("search_videos"):
            if budget is not None:
                budget.check("the catalog's video search")
            if self._dims is None:
                return []
            code, tex = sc.check_query(hash_bits, texture, self._dims, rows=False)
            threshold = sc.score_threshold(max_hamming)
            sc.check_limits(coarse_limit, limit)
            coarse = qe.Prefetch(
                coarse_limit,
                query=qe.Query.Nearest(code.tolist(), using=sc.VEC_HASH),
                params=_FULL_SCAN,
                score_threshold=threshold,
            )
            found = self._shards[sc.VIDEOS].query(
                qe.QueryRequest(
                    limit,
                    query=qe.Query.Nearest(tex.tolist(), using=sc.VEC_TEXTURE),
                    prefetches=[coarse],
                    params=qe.SearchParams(exact=True),
                    with_payload=sc.INFO_FIELDS,
                    with_vector=[sc.VEC_HASH],
                )
            )
        out = []
        for point in found:
            vectors: Any = point.vector or {}
            cand = VideoCandidate(
                sc.info_from_payload(point.payload or {}),
                sc.hamming(vectors[sc.VEC_HASH], code),
                float(point.score),
            )
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
        """One batch of exact hash scans, one per query frame, committed frames only."""
        with self._lock.reading(), edge_errors("search_keyframes"):
            if self._dims is None:
                return [[] for _ in range(len(hash_bits))]
            codes, texs = sc.check_query(hash_bits, texture, self._dims, rows=True)
            threshold = sc.score_threshold(max_hamming)
            sc.check_limits(limit_per_frame, limit_per_frame)

            def query(pins: Mapping[str, int]) -> list[list[RawFrameHit]]:
                flt = _pin_filter(pins)
                out: list[list[RawFrameHit]] = []
                for start in range(0, len(codes), _BATCH):
                    if budget is not None:
                        budget.check("the catalog's key-frame search")
                    requests = [
                        qe.QueryRequest(
                            limit_per_frame,
                            query=qe.Query.Nearest(c.tolist(), using=sc.VEC_HASH),
                            filter=flt,
                            score_threshold=threshold,
                            params=_FULL_SCAN,
                            with_payload=[sc.F_VIDEO_ID, sc.F_TIME_S, sc.F_GENERATION],
                            with_vector=[sc.VEC_TEXTURE],
                        )
                        for c in codes[start : start + _BATCH]
                    ]
                    rows = self._shards[sc.KEYFRAMES].query_batch(qe.QueryBatchRequest(requests))
                    out.extend([_raw_hit(p) for p in row] for row in rows)
                return out

            return visible_keyframes(query, self._committed, texs, limit_per_frame)

    def _committed(self, video_ids: set[str]) -> dict[str, int]:
        """Committed generation of each video that exists."""
        if not video_ids:
            return {}
        found = self._shards[sc.VIDEOS].retrieve(
            [sc.video_point_id(v) for v in video_ids],
            with_payload=[sc.F_VIDEO_ID, sc.F_GENERATION],
            with_vector=False,
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
        with self._lock.reading(), edge_errors("keyframe_vectors"):
            if budget is not None:
                budget.check("reading the candidates' key frames")
            if self._dims is None:
                return {}
            committed = self._committed(set(video_ids))
            if not committed:
                return {}
            flt = qe.Filter(
                should=[
                    qe.Filter(must=[_match(sc.F_VIDEO_ID, v), _match(sc.F_GENERATION, g)])
                    for v, g in committed.items()
                ]
            )
            points: list[tuple[Any, Any]] = []
            offset: Any = None
            while True:
                page, offset = self._shards[sc.KEYFRAMES].scroll(
                    qe.ScrollRequest(
                        offset=offset,
                        limit=_BATCH,
                        filter=flt,
                        with_payload=[sc.F_VIDEO_ID, sc.F_TIME_S],
                        with_vector=[sc.VEC_TEXTURE],
                    )
                )
                points.extend((p.payload or {}, p.vector or {}) for p in page)
                if offset is None:
                    break
            return sc.keyframe_arrays(points, self._dims.texture)

    def kth_neighbour_similarity(
        self, textures: np.ndarray, k: int, *, budget: RequestBudget | None = None
    ) -> np.ndarray:
        """One batch of exact texture scans; uncommitted frames (a write in progress or a
        crashed one) are dropped, with ``_KNN_SLACK`` extra hits asked for to cover them."""
        with self._lock.reading(), edge_errors("kth_neighbour_similarity"):
            if self._dims is None:
                return np.full(len(textures), np.nan, dtype=np.float32)
            texs = sc.check_textures(textures, self._dims, k)
            raw: list[list[RawFrameHit]] = []
            for start in range(0, len(texs), _BATCH):
                if budget is not None:
                    budget.check("the background key-frame search")
                requests = [
                    qe.QueryRequest(
                        k + _KNN_SLACK,
                        query=qe.Query.Nearest(t.tolist(), using=sc.VEC_TEXTURE),
                        params=qe.SearchParams(exact=True),
                        with_payload=[sc.F_VIDEO_ID, sc.F_TIME_S, sc.F_GENERATION],
                        with_vector=[sc.VEC_TEXTURE],
                    )
                    for t in texs[start : start + _BATCH]
                ]
                rows = self._shards[sc.KEYFRAMES].query_batch(qe.QueryBatchRequest(requests))
                raw.extend([_raw_hit(p) for p in row] for row in rows)
            committed = self._committed({h.video_id for row in raw for h in row})
        return kth_similarity(raw, committed, texs, k)

    def nearest_by_embedding(self, video_id: str, limit: int) -> list[tuple[VideoInfo, float]]:
        """Cosine neighbours of a video's stored embedding; [] when it has none."""
        with self._lock.reading(), edge_errors("nearest_by_embedding"):
            if self._dims is None:
                raise VideoNotFoundError(video_id)
            point = sc.video_point_id(video_id)
            with_vector = [sc.VEC_EMBEDDING] if self._dims.embedding else False
            found = self._shards[sc.VIDEOS].retrieve(
                [point], with_payload=False, with_vector=with_vector
            )
            if not found:
                raise VideoNotFoundError(video_id)
            vectors: Any = found[0].vector or {}
            if sc.VEC_EMBEDDING not in vectors or limit < 1:
                return []
            hits = self._shards[sc.VIDEOS].query(
                qe.QueryRequest(
                    limit,
                    query=qe.Query.Nearest(vectors[sc.VEC_EMBEDDING], using=sc.VEC_EMBEDDING),
                    filter=qe.Filter(must_not=[qe.HasIdCondition({point})]),
                    with_payload=sc.INFO_FIELDS,
                )
            )
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
        with self._lock.reading(), edge_errors("search_text"):
            query = None if self._dims is None else sc.check_text_query(
                embedding, self._dims, limit)
            if query is None:
                return []
            if budget is not None:
                budget.check("the catalog's text search")
            hits = self._shards[sc.VIDEOS].query(
                qe.QueryRequest(
                    limit,
                    query=qe.Query.Nearest(query.tolist(), using=sc.VEC_TEXT),
                    filter=qe.Filter(must=[_match(sc.F_TEXT_VERSION, model_version)]),
                    with_payload=sc.TEXT_FIELDS,
                    with_vector=[sc.VEC_TEXT],
                )
            )
        return [
            TextCandidate(
                sc.info_from_payload(h.payload or {}),
                float(h.score),
                sc.text_from_point(h.payload or {}, h.vector or {}),  # type: ignore[arg-type]
            )
            for h in hits
        ]

    def is_ready(self) -> bool:
        """In-process: ready until closed (a broken disk shows up as errors on calls)."""
        return not self._lock.closed

    def stats(self) -> CatalogStats:
        with self._lock.reading(), edge_errors("stats"):
            if self._dims is None:
                return CatalogStats(0, 0)
            videos, frames = self._shards[sc.VIDEOS], self._shards[sc.KEYFRAMES]
            facet = videos.facet(qe.FacetRequest(sc.F_MODEL_VERSION, limit=1000, exact=True))
            return CatalogStats(
                videos=videos.count(qe.CountRequest(exact=True)),
                keyframes=frames.count(qe.CountRequest(exact=True)),
                model_versions=tuple(sorted(int(h.value) for h in facet.hits)),
            )


def _pin_filter(pins: Mapping[str, int]) -> qe.Filter | None:
    """Frames of pinned videos only in the pinned generation; others unrestricted."""
    if not pins:
        return None
    pinned: list[qe.FieldCondition | qe.Filter] = [
        qe.Filter(must=[_match(sc.F_VIDEO_ID, v), _match(sc.F_GENERATION, g)])
        for v, g in pins.items()
    ]
    others = qe.Filter(must_not=[qe.FieldCondition(sc.F_VIDEO_ID, match=qe.MatchAny(list(pins)))])
    return qe.Filter(should=[*pinned, others])


def _raw_hit(point: Any) -> RawFrameHit:
    payload = point.payload or {}
    return RawFrameHit(
        str(payload[sc.F_VIDEO_ID]),
        int(payload[sc.F_GENERATION]),
        float(payload[sc.F_TIME_S]),
        float(point.score),
        (point.vector or {})[sc.VEC_TEXTURE],
    )
