"""The embedded catalog: ``QdrantCatalog`` over two Qdrant Edge shards in one directory.

Qdrant Edge is the Qdrant segment engine in-process, so the serving process needs no
database server, and the same query plan (exact hash scan with a score threshold as a
prefetch, exact texture rerank) runs as on a cluster. Layout and the point store:
``qdrant_edge_store``; restore by directory swap: ``qdrant_edge_backup``.

Binary quantization of ``hash`` (and its HNSW graph, see ``hash_index``) is configured
but, as in Qdrant itself, only built when segments are optimised: call ``optimize()``
after bulk indexing. Scores of ±1 codes are exact either way.
"""

from __future__ import annotations

import os
from pathlib import Path

import qdrant_edge as qe

from vidsearch.catalog.hash_index import HashIndex
from vidsearch.catalog.qdrant import QdrantCatalog
from vidsearch.catalog.qdrant_edge_backup import DirectorySwap, finish_interrupted_restore
from vidsearch.catalog.qdrant_edge_store import EdgePointStore


class QdrantEdgeCatalog(QdrantCatalog):
    """The catalog in the directory ``path`` (created with its first video if new)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        texture_dim: int | None = None,
        embedding_dim: int | None = None,
        text_dim: int | None = None,
        sentence_dim: int | None = None,
        hash_index: HashIndex | None = None,
    ) -> None:
        root = Path(path)
        finish_interrupted_restore(root)
        self._edge = EdgePointStore(root, hash_index)
        super().__init__(
            self._edge, texture_dim=texture_dim, embedding_dim=embedding_dim,
            text_dim=text_dim, sentence_dim=sentence_dim, staged_restore=DirectorySwap(self._edge),
            hash_index=hash_index,
        )

    @property
    def shards(self) -> dict[str, qe.EdgeShard]:
        """The open shards by store name, for bulk loading and inspection (bench, tests)."""
        return self._edge.shards
