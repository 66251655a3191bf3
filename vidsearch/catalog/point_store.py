"""The storage API under the catalog: point operations on its two stores, and nothing else.

``QdrantCatalog`` holds all the catalog's logic (write protocol, visibility, searches,
backups) and speaks to its data only through a ``PointStore``, as qdrant-client's
``QdrantClient`` speaks to a server or to its local mode through one storage API. Two
adapters translate these calls to an engine: ``EdgePointStore`` (Qdrant Edge shards in
a directory) and ``ClientPointStore`` (qdrant-client: a Qdrant cluster or local mode).

Requests are written in qdrant-client's own models (``Filter``, ``QueryRequest``), the
documented Qdrant query language; points are plain ``StoredPoint`` values, the same unit
a backup archive holds. A store is named by its role (``schema.VIDEOS``,
``schema.KEYFRAMES``, or ``schema.TAGS`` once ``open_tags`` opened the tag library);
the adapter knows where it lives.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from qdrant_client import models as m

from vidsearch.catalog import schema as sc
from vidsearch.catalog.snapshot_chunks import StoredPoint

Fields = bool | list[str]  # payload fields or vector names to return: all, none, or these


@dataclass(frozen=True)
class ScoredPoint(StoredPoint):
    """A point a query found, with its score (distance for Euclid, similarity otherwise)."""

    score: float = 0.0


class PointStore(Protocol):
    """Point operations on the ``videos`` and ``keyframes`` stores of one catalog.

    Writes are visible to reads once they return, and durable after ``flush``; reads
    may run concurrently with one writer. Engine errors surface as the catalog's error
    types inside ``errors``.
    """

    backend: str  # names the engine in backup manifests
    label: str  # the directory or collections, for messages

    def errors(self, what: str) -> AbstractContextManager[None]:
        """Map the engine's failures to CatalogError / CatalogUnavailableError."""
        ...

    def open(self, wanted: sc.WantedDims) -> sc.Dims | None:
        """Attach to existing stores (their sizes checked against ``wanted``); None if
        there are none yet. Raises CatalogUnavailableError when the engine is not reachable."""
        ...

    def create(self, dims: sc.Dims) -> None:
        """Create what is missing of both stores, with these vector sizes."""
        ...

    def open_tags(self, dim: int) -> None:
        """Attach to (or create) the tag library store, with ``dim``-sized cosine vectors
        ``schema.VEC_TAG``; IncompatibleModelError if it holds another size. Cheap once open
        (a restore may close it: callers call it before each use)."""
        ...

    def drop(self) -> None:
        """Delete both catalog stores, not the tag library (a restore recreates them)."""
        ...

    def ping(self) -> None:
        """One cheap call that fails when the engine is unreachable."""
        ...

    def upsert(self, store: str, points: Sequence[StoredPoint]) -> None: ...

    def delete(self, store: str, selector: list[str] | m.Filter) -> None:
        """Delete points by id, or those matching a filter."""
        ...

    def flush(self, store: str) -> None:
        """Make the writes so far durable (a no-op where each write is acknowledged so)."""
        ...

    def retrieve(
        self, store: str, ids: Sequence[str], *, payload: Fields, vectors: Fields
    ) -> list[StoredPoint]: ...

    def scroll(
        self, store: str, request: m.ScrollRequest, timeout: int | None = None
    ) -> tuple[list[StoredPoint], Any]:
        """One page of points in id order, and the offset of the next (None: last page)."""
        ...

    def query_batch(
        self, store: str, requests: Sequence[m.QueryRequest], timeout: int | None = None
    ) -> list[list[ScoredPoint]]:
        """Answers to several queries (nearest-vector queries with prefetch and filters)."""
        ...

    def count(self, store: str, where: m.Filter | None = None) -> int:
        """Exact number of points (matching ``where``)."""
        ...

    def facet(self, store: str, key: str) -> list[Any]:
        """Every distinct value of an indexed payload field (exact)."""
        ...

    def optimize(self) -> bool:
        """Build what bulk writes deferred (Edge: merged segments, quantization); False if
        there was nothing to do or the engine does it by itself."""
        ...

    def close(self) -> None: ...


def match(field: str, value: Any) -> m.FieldCondition:
    return m.FieldCondition(key=field, match=m.MatchValue(value=value))


def generation_of(video_id: str, generation: int) -> m.Filter:
    """Key frames of one written version of a video."""
    return m.Filter(must=[match(sc.F_VIDEO_ID, video_id), match(sc.F_GENERATION, generation)])


def stored(point: Any) -> StoredPoint:
    """A point either engine returned (``id``, ``vector``, ``payload``) as a StoredPoint
    (its dicts are the engine's fresh ones, not copied: this is on every search's path)."""
    return StoredPoint(str(point.id), point.vector or {}, point.payload or {})


def scored(point: Any) -> ScoredPoint:
    """A query hit either engine returned (a point with ``score``) as a ScoredPoint."""
    return ScoredPoint(
        str(point.id), point.vector or {}, point.payload or {}, score=float(point.score)
    )
