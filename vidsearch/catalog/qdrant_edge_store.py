"""On-disk layout of the Qdrant Edge catalog: shard configuration, creation, re-opening.

Layout under the catalog directory::

    catalog.json   schema version and vector sizes, written once both shards exist
    videos/        EdgeShard: one point per video (the commit marker of an upsert)
    keyframes/     EdgeShard: one point per key frame

``catalog.json`` is written last (atomically, by rename), so a directory without it
never served data; its shards, if any, are loaded and checked against the config.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import qdrant_edge as qe

from vidsearch.catalog import schema as sc
from vidsearch.catalog.base import (
    HASH_BITS,
    CatalogError,
    CatalogUnavailableError,
    IncompatibleModelError,
)
from vidsearch.deadline import RequestStoppedError

META_FILE = "catalog.json"

# No HNSW graph: every hash query is an exact scan (the threshold must be exact).
_NO_GRAPH = qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000)

_INDEXES = {
    sc.VIDEOS: {
        sc.F_VIDEO_ID: qe.PayloadSchemaType.Keyword,
        sc.F_MODEL_VERSION: qe.PayloadSchemaType.Integer,
        sc.F_TEXT_VERSION: qe.PayloadSchemaType.Integer,
    },
    sc.KEYFRAMES: {
        sc.F_VIDEO_ID: qe.PayloadSchemaType.Keyword,
        sc.F_GENERATION: qe.PayloadSchemaType.Integer,
    },
}


def edge_config(dims: sc.Dims, store: str) -> qe.EdgeConfig:
    """Shard configuration of one store (``videos`` or ``keyframes``); WAL on."""
    vectors = {
        sc.VEC_HASH: qe.EdgeVectorParams(
            HASH_BITS,
            qe.Distance.Dot,
            quantization_config=qe.BinaryQuantizationConfig(always_ram=True),
            hnsw_config=_NO_GRAPH,
        ),
        sc.VEC_TEXTURE: qe.EdgeVectorParams(
            dims.texture, qe.Distance.Euclid, hnsw_config=_NO_GRAPH
        ),
    }
    if store == sc.VIDEOS and dims.embedding is not None:
        # Recommendation neighbours: HNSW is fine (approximate by nature).
        vectors[sc.VEC_EMBEDDING] = qe.EdgeVectorParams(dims.embedding, qe.Distance.Cosine)
    if store == sc.VIDEOS and dims.text is not None:
        # Text stage 1 shortlists candidates for a reranker: HNSW recall is enough.
        vectors[sc.VEC_TEXT] = qe.EdgeVectorParams(dims.text, qe.Distance.Cosine)
    return qe.EdgeConfig(vectors=vectors, wal_enabled=True)


@contextmanager
def edge_errors(what: str) -> Iterator[None]:
    """Edge raises bare ``Exception``; give callers the catalog's error types."""
    try:
        yield
    except (CatalogError, ValueError, RequestStoppedError):  # ours, already meaningful
        raise
    except Exception as exc:
        if "WouldBlock" in str(exc):
            raise CatalogUnavailableError(f"{what}: directory in use by another process") from exc
        raise CatalogError(f"{what}: {exc}") from exc


def read_dims(
    root: Path, texture_dim: int | None, embedding_dim: int | None, text_dim: int | None = None
) -> sc.Dims | None:
    """Sizes recorded in ``root`` (checked against the wanted ones), or None if new.

    A catalog created without text vectors stays so (a shard cannot gain a vector):
    ``text_dim`` is not checked against a stored None, text search just finds nothing.
    """
    meta = root / META_FILE
    if not meta.is_file():
        return None
    stored = json.loads(meta.read_text())
    if stored.get("schema_version") != sc.SCHEMA_VERSION:
        raise IncompatibleModelError(f"{meta}: unknown schema {stored.get('schema_version')}")
    dims = sc.Dims(int(stored["texture_dim"]), stored["embedding_dim"], stored.get("text_dim"))
    for name, want, have in (
        ("texture_dim", texture_dim, dims.texture),
        ("embedding_dim", embedding_dim, dims.embedding),
        ("text_dim", text_dim if dims.text is not None else None, dims.text),
    ):
        if want is not None and want != have:
            raise IncompatibleModelError(f"catalog {root} has {name}={have}, not {want}")
    return dims


def open_shards(root: Path, dims: sc.Dims) -> dict[str, qe.EdgeShard]:
    """Load or create both shards, then record the sizes (last: it marks success)."""
    shards: dict[str, qe.EdgeShard] = {}
    try:
        with edge_errors(f"opening catalog {root}"):
            for store in (sc.VIDEOS, sc.KEYFRAMES):
                where = root / store
                config = edge_config(dims, store)
                if where.is_dir() and any(where.iterdir()):
                    shards[store] = qe.EdgeShard.load(str(where), config)
                    continue
                shard = qe.EdgeShard.create(str(where), config)
                shards[store] = shard
                for field, kind in _INDEXES[store].items():
                    shard.update(qe.UpdateOperation.create_field_index(field, kind))
                shard.flush()
    except BaseException:
        for shard in shards.values():
            shard.close()
        raise
    meta = {
        "schema_version": sc.SCHEMA_VERSION,
        "texture_dim": dims.texture,
        "embedding_dim": dims.embedding,
        "text_dim": dims.text,
    }
    tmp = root / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta))
    tmp.replace(root / META_FILE)
    return shards
