"""The live tag library: one Qdrant point per tag, written once over either point store.

A tag is its text (which names its point, ``schema.tag_point_id``), its vector from the
served tag encoder, the encoder's model version, and payload ``created_at`` / ``source``.
The library changes while the service runs (seed 004's hot topics): a tag written here is
answered by the very next query, and a deleted one never again, with no restart and no
retraining. Each write is flushed before it returns (a tag is one point, so a crash leaves
the old tag or the new one, never half of one), as the video catalog's write protocol does.

Nearest-tag queries are exact (a library holds thousands of tags, a full scan takes
milliseconds) and compare only vectors of the asked encoder version: a tag embedded by an
older encoder is *stale* until the orchestrator re-embeds it (``stale``), never compared
across spaces. Distances are cosine distances, ``1 - cosine similarity``.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from qdrant_client import models as m

from vidsearch.catalog import schema as sc
from vidsearch.catalog.point_store import PointStore, match
from vidsearch.catalog.snapshot_chunks import StoredPoint
from vidsearch.catalog.visibility import ReadWriteLock
from vidsearch.contract.tag_scoring import scene_aware_similarity
from vidsearch.deadline import RequestBudget

TAG_FIELDS = [sc.F_TAG_TEXT, "created_at", "source", sc.F_TAG_VERSION]
EXACT = m.SearchParams(exact=True)


class PageTokenError(ValueError):
    """A ListTags page token this library did not hand out."""


@dataclass(frozen=True)
class TagInfo:
    """A tag of the library, without its vector."""

    text: str
    created_at: str  # ISO 8601, UTC, when the tag was first added
    source: str  # who added it: "api", "cli", a feed name...
    model_version: int  # the tag encoder version of its stored vector


@dataclass(frozen=True)
class TagVector:
    """A tag to write: its text and where it came from, with its vector."""

    text: str
    vector: np.ndarray  # (E,) float32, non-zero
    model_version: int
    source: str = ""


@dataclass(frozen=True)
class TagHit:
    tag: TagInfo
    distance: float  # cosine distance, 0 = same direction


class TagLibrary:
    """The tag library over ``store`` (opened with ``dim``-sized vectors on first use);
    safe for concurrent readers and one writer."""

    def __init__(self, store: PointStore, dim: int) -> None:
        self.store = store
        self.dim = dim
        self._lock = ReadWriteLock()
        self._writer = threading.Lock()

    @contextmanager
    def _using(self, what: str) -> Iterator[None]:
        """Errors mapped, the store open (a restore of the catalog may have closed it)."""
        with self.store.errors(what):
            self.store.open_tags(self.dim)
            yield

    # -- writes --------------------------------------------------------------------

    def upsert(self, tags: Sequence[TagVector]) -> list[bool]:
        """Add or replace tags; for each, whether it was new. A replaced tag keeps its
        ``created_at``. Durable when this returns."""
        for tag in tags:
            vector = np.asarray(tag.vector, dtype=np.float32)
            if vector.shape != (self.dim,) or not np.all(np.isfinite(vector)):
                raise ValueError(f"tag vector must be {self.dim} finite floats, got "
                                 f"shape {vector.shape}")
            if not np.any(vector):
                raise ValueError("tag vector must be non-zero (cosine)")
        with self._writer, self._lock.writing(), self._using("writing tags"):
            known = self._get([t.text for t in tags])
            now = datetime.now(UTC).isoformat()
            points = [
                StoredPoint(
                    sc.tag_point_id(t.text),
                    {sc.VEC_TAG: np.asarray(t.vector, dtype=np.float32).tolist()},
                    {
                        sc.F_TAG_TEXT: t.text,
                        "created_at": known[t.text].created_at if t.text in known else now,
                        "source": t.source or (known[t.text].source if t.text in known else ""),
                        sc.F_TAG_VERSION: int(t.model_version),
                    },
                )
                for t in tags
            ]
            if points:
                self.store.upsert(sc.TAGS, points)
                self.store.flush(sc.TAGS)
        return [t.text not in known for t in tags]

    def delete(self, texts: Sequence[str]) -> list[bool]:
        """Remove tags; for each, whether it was there. Durable when this returns."""
        with self._writer, self._lock.writing(), self._using("deleting tags"):
            known = self._get(texts)
            if texts:
                self.store.delete(sc.TAGS, [sc.tag_point_id(t) for t in texts])
                self.store.flush(sc.TAGS)
        return [t in known for t in texts]

    # -- reads ---------------------------------------------------------------------

    def get(self, texts: Sequence[str]) -> dict[str, TagInfo]:
        """The tags of ``texts`` that are in the library, by text."""
        with self._lock.reading(), self._using("reading tags"):
            return self._get(texts)

    def _get(self, texts: Sequence[str]) -> dict[str, TagInfo]:
        if not texts:
            return {}
        ids = [sc.tag_point_id(t) for t in dict.fromkeys(texts)]
        found = self.store.retrieve(sc.TAGS, ids, payload=TAG_FIELDS, vectors=False)
        infos = (_info(p.payload) for p in found if p.payload)
        return {info.text: info for info in infos}

    def page(self, page_size: int, page_token: str = "") -> tuple[list[TagInfo], str]:
        """One page of tags in the store's (point id) order, and the token of the next page
        ("" after the last). Tokens are opaque to callers; a tag added or removed between
        pages may or may not show, no tag shows twice."""
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        offset = _decode_token(page_token) if page_token else None
        request = m.ScrollRequest(limit=page_size, offset=offset, with_payload=TAG_FIELDS,
                                  with_vector=False)
        with self._lock.reading(), self._using("listing tags"):
            points, next_offset = self.store.scroll(sc.TAGS, request)
        token = "" if next_offset is None else _encode_token(str(next_offset))
        return [_info(p.payload) for p in points], token

    def count(self) -> int:
        with self._lock.reading(), self._using("counting tags"):
            return self.store.count(sc.TAGS)

    def nearest(
        self,
        vector: np.ndarray,
        *,
        limit: int,
        model_version: int,
        max_distance: float | None = None,
        budget: RequestBudget | None = None,
        scenes: np.ndarray | None = None,
        scene_weight: float = 0.0,
    ) -> list[TagHit]:
        """The ``limit`` tags of ``model_version`` nearest to the video, nearest first, none
        farther than ``max_distance``. Without ``scenes`` (or at weight 0) the distance is
        the cosine distance to ``vector``; with them, 1 - ``scene_aware_similarity``."""
        sc.check_limits(limit)
        query = _unit_rows(vector, self.dim, "tag query")
        rows = query if scenes is None or scene_weight == 0 else np.concatenate(
            [query, _unit_rows(scenes, self.dim, "scene tag features")])
        if len(rows) == 1:
            threshold = None if max_distance is None else 1.0 - max_distance
            [found] = self._query(rows, limit, model_version, threshold, budget)
            hits = [TagHit(_info(p.payload), 1.0 - p.score) for p in found]
        else:
            hits = self._scene_aware(rows, limit, model_version, scene_weight, budget)
        return [h for h in hits if max_distance is None or h.distance <= max_distance]

    def _query(self, rows: np.ndarray, limit: int, model_version: int,
               threshold: float | None, budget: RequestBudget | None,
               payload: bool = True) -> list[list[Any]]:
        """One exact search per row of ``rows``, in one batch."""
        where = "the tag library search"
        requests = [m.QueryRequest(
            query=row.tolist(), using=sc.VEC_TAG, limit=limit, params=EXACT,
            filter=m.Filter(must=[match(sc.F_TAG_VERSION, model_version)]),
            score_threshold=threshold, with_payload=TAG_FIELDS if payload else False,
            with_vector=False) for row in rows]
        with self._lock.reading(), self._using(where):
            timeout = None if budget is None else budget.whole_seconds_for(where)
            return self.store.query_batch(sc.TAGS, requests, timeout)

    def _scene_aware(self, rows: np.ndarray, limit: int, model_version: int, weight: float,
                     budget: RequestBudget | None) -> list[TagHit]:
        """Video (row 0) and scenes: each row's nearest ``n`` tags (ids and scores only),
        the union's vectors read once and rescored together, the winners' payloads last.
        Exact, because a tag in none of the lists scores at most what the lists' last
        entries bound it to, and ``n`` grows until the top ``limit`` beat that bound (or a
        list holds every tag)."""
        n = max(2 * limit, 20)
        with self._lock.reading():  # a tag deleted meanwhile is left out, never half-read
            while True:
                found = self._query(rows, n, model_version, None, budget, payload=False)
                ids = list(dict.fromkeys(p.point_id for ranked in found for p in ranked))
                with self._using("the tag library search"):
                    points = self.store.retrieve(sc.TAGS, ids, payload=False,
                                                 vectors=[sc.VEC_TAG]) if ids else []
                if not points:
                    return []
                tags = _unit_rows(np.array([p.vectors[sc.VEC_TAG] for p in points]), self.dim,
                                  "stored tag vectors")
                sim = scene_aware_similarity(rows[0] @ tags.T, rows[1:] @ tags.T, weight)
                order = np.argsort(-sim, kind="stable")[:limit]
                complete = any(len(ranked) < n for ranked in found)  # holds every tag
                last = np.array([ranked[-1].score if ranked else -1.0 for ranked in found])
                bound = float(scene_aware_similarity(last[:1], last[1:, None], weight)[0])
                if complete or (len(order) == limit and sim[order[-1]] >= bound):
                    break
                n *= 4
            with self._using("the tag library search"):
                winners = self.store.retrieve(sc.TAGS, [points[i].point_id for i in order],
                                              payload=TAG_FIELDS, vectors=False)
        info = {p.point_id: _info(p.payload) for p in winners}
        return [TagHit(info[points[i].point_id], 1.0 - float(sim[i])) for i in order
                if points[i].point_id in info]

    def stale(self, model_version: int, batch: int = 256) -> Iterator[list[TagInfo]]:
        """Tags whose vector came from another encoder version, a batch at a time."""
        other = m.Filter(must_not=[match(sc.F_TAG_VERSION, model_version)])
        request = m.ScrollRequest(limit=batch, filter=other, with_payload=TAG_FIELDS,
                                  with_vector=False)
        offset = None
        while True:
            with self._lock.reading(), self._using("finding stale tags"):
                page, offset = self.store.scroll(
                    sc.TAGS, request.model_copy(update={"offset": offset}))
            if page:
                yield [_info(p.payload) for p in page]
            if offset is None:
                return


def _unit_rows(x: np.ndarray, dim: int, what: str) -> np.ndarray:
    """Rows of ``dim`` finite floats, none all zero, scaled to unit length."""
    rows = np.atleast_2d(np.asarray(x, dtype=np.float32))
    if rows.ndim != 2 or rows.shape[1] != dim or not np.all(np.isfinite(rows)) or not np.all(
            np.any(rows, axis=1)):
        raise ValueError(f"{what} must be {dim} finite floats, not all zero (per row); got "
                         f"shape {np.shape(x)}")
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _info(payload: dict[str, object]) -> TagInfo:
    return TagInfo(
        text=str(payload[sc.F_TAG_TEXT]),
        created_at=str(payload.get("created_at", "")),
        source=str(payload.get("source", "")),
        model_version=int(str(payload.get(sc.F_TAG_VERSION, 0))),
    )


def _encode_token(offset: str) -> str:
    return base64.urlsafe_b64encode(offset.encode()).decode("ascii")


def _decode_token(token: str) -> str:
    try:
        offset = base64.urlsafe_b64decode(token.encode("ascii")).decode()
        return str(uuid.UUID(offset))
    except (ValueError, binascii.Error, UnicodeError):
        raise PageTokenError(
            "page_token is not one this server handed out: pass the next_page_token of the "
            "previous ListTags answer, or none for the first page"
        ) from None
