"""SearchBySentence in the catalog: the two rankings its fusion combines.

Each video's generated sentence is stored on its point (payload ``caption``, with a
full-text index: word tokenizer, lower-cased, on Qdrant Edge and on a cluster alike) and
embedded by the served MiniLM text encoder (named vector ``sentence``, cosine). One
query batch asks for both rankings:

- the nearest sentence vectors (meaning, whatever the wording);
- the nearest among the captions holding any of the query's words (``MatchTextAny`` on
  the full-text index): the videos that say what was asked in so many words.

The orchestrator fuses them (``orchestrator.sentence_search``). Only vectors of the
query's text encoder version are compared (``sentence_model_version``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import numpy as np
from qdrant_client import models as m

from vidsearch.catalog import filters
from vidsearch.catalog import schema as sc
from vidsearch.catalog.base import SentenceCandidate, VideoFilter
from vidsearch.catalog.point_store import PointStore, ScoredPoint, match
from vidsearch.deadline import RequestBudget

if TYPE_CHECKING:
    from vidsearch.catalog.visibility import ReadWriteLock


class SentenceSearch:
    """Mixed into ``QdrantCatalog``: the catalog's sentence search over its point store."""

    store: PointStore
    _lock: ReadWriteLock
    _dims: sc.Dims | None
    _wanted: sc.WantedDims

    if TYPE_CHECKING:  # QdrantCatalog's
        def _using(self, what: str, budget: RequestBudget | None = None
                   ) -> AbstractContextManager[None]: ...  # fmt: skip

    def has_sentence_vectors(self) -> bool:
        """Whether this catalog stores sentence vectors (fixed when it is created)."""
        dims = self._dims
        return dims.sentence is not None if dims else self._wanted.sentence is not None

    def search_sentences(
        self,
        vector: np.ndarray,
        words: Sequence[str],
        *,
        limit: int,
        vector_version: int,
        budget: RequestBudget | None = None,
        only: VideoFilter | None = None,
    ) -> tuple[list[SentenceCandidate], list[SentenceCandidate]]:
        """(nearest sentence vectors, nearest among captions holding any of ``words``);
        ([], []) when the catalog stores no sentence vectors."""
        where = "the catalog's sentence search"
        with self._lock.reading(), self._using(where, budget):
            timeout = None if budget is None else budget.whole_seconds_for(where)
            dims = self._dims
            if dims is None or dims.sentence is None:
                sc.check_limits(limit)
                return [], []
            query = sc.check_sentence_query(vector, dims, limit).tolist()
            version = match(sc.F_SENTENCE_VERSION, vector_version)
            requests = [self._nearest(query, filters.videos_filter(only, version), limit)]
            if words:
                said = m.FieldCondition(key=sc.F_CAPTION,
                                        match=m.MatchTextAny(text_any=" ".join(words)))
                requests.append(self._nearest(query, filters.videos_filter(only, version, said),
                                              limit))
            rows = self.store.query_batch(sc.VIDEOS, requests, timeout)
        by_vector, *by_words = (list(_candidates(row)) for row in rows)
        return by_vector, (by_words[0] if by_words else [])

    @staticmethod
    def _nearest(query: list[float], where: m.Filter | None, limit: int) -> m.QueryRequest:
        return m.QueryRequest(query=query, using=sc.VEC_SENTENCE, limit=limit, filter=where,
                              with_payload=sc.INFO_FIELDS, with_vector=False)


def _candidates(row: list[ScoredPoint]) -> Iterator[SentenceCandidate]:
    for hit in row:
        yield SentenceCandidate(sc.info_from_payload(hit.payload), hit.score)
