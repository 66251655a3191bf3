"""The Qdrant Edge point store: shards in a directory, and their on-disk layout.

``EdgePointStore`` is the catalog's storage API (``point_store``) over two in-process
Edge shards: it translates qdrant-client's request models into Edge's and flushes on
``flush``. One process owns a directory (Edge locks it).

Layout under the catalog directory::

    catalog.json   schema version and vector sizes, written once both shards exist
    videos/        EdgeShard: one point per video (the commit marker of an upsert)
    keyframes/     EdgeShard: one point per key frame

``catalog.json`` is written last (atomically, by rename), so a directory without it
never served data; its shards, if any, are loaded and checked against the config.

The tag library (``tags``) is one more shard, in the sibling directory ``<dir>-tags``:
it is opened on its own (its vector size is the tag encoder's), and a restore, which
swaps the catalog directory, leaves it alone.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import qdrant_edge as qe
from qdrant_client import models as m

from vidsearch.catalog import schema as sc
from vidsearch.catalog.base import (
    HASH_BITS,
    CatalogError,
    CatalogUnavailableError,
    IncompatibleModelError,
)
from vidsearch.catalog.hash_index import HashIndex
from vidsearch.catalog.point_store import Fields, ScoredPoint, scored, stored
from vidsearch.catalog.snapshot_chunks import StoredPoint
from vidsearch.deadline import RequestStoppedError

META_FILE = "catalog.json"

# No HNSW graph on the textures: the rerank is exact over the coarse candidates.
_NO_GRAPH = qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000)

_INDEXES = {
    sc.VIDEOS: {
        sc.F_VIDEO_ID: qe.PayloadSchemaType.Keyword,
        sc.F_TAGS: qe.PayloadSchemaType.Keyword,  # finding videos by tag
        sc.F_TITLE_PREFIXES: qe.PayloadSchemaType.Keyword,  # title_prefix filters
        sc.F_MODEL_VERSION: qe.PayloadSchemaType.Integer,
        sc.F_TEXT_VERSION: qe.PayloadSchemaType.Integer,
        sc.F_CAPTION: qe.PayloadSchemaType.Text,  # keyword match of SearchBySentence
        sc.F_CAPTION_VERSION: qe.PayloadSchemaType.Integer,
        sc.F_SENTENCE_VERSION: qe.PayloadSchemaType.Integer,
    },
    sc.KEYFRAMES: {
        sc.F_VIDEO_ID: qe.PayloadSchemaType.Keyword,
        sc.F_GENERATION: qe.PayloadSchemaType.Integer,
    },
}


TAGS_SUFFIX = "-tags"


def tag_library_config(dim: int) -> qe.EdgeConfig:
    """The tag library's shard: one cosine vector per tag (exact queries: see ``tags``)."""
    return qe.EdgeConfig(
        vectors={sc.VEC_TAG: qe.EdgeVectorParams(dim, qe.Distance.Cosine)}, wal_enabled=True
    )


def edge_config(dims: sc.Dims, store: str, hash_index: HashIndex) -> qe.EdgeConfig:
    """Shard configuration of one store (``videos`` or ``keyframes``); WAL on. The hash
    graph settings take effect when a shard is created (a loaded one keeps its own)."""
    graph = qe.HnswIndexConfig(m=hash_index.graph_m, ef_construct=hash_index.ef_construct,
                               full_scan_threshold=hash_index.full_scan_threshold_kb)
    vectors = {
        sc.VEC_HASH: qe.EdgeVectorParams(
            HASH_BITS,
            qe.Distance.Dot,
            quantization_config=qe.BinaryQuantizationConfig(always_ram=True),
            hnsw_config=graph,
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
    if store == sc.VIDEOS and dims.sentence is not None:
        vectors[sc.VEC_SENTENCE] = qe.EdgeVectorParams(dims.sentence, qe.Distance.Cosine)
    kb = hash_index.indexing_threshold_kb
    optimizers = None if kb is None else qe.EdgeOptimizersConfig(indexing_threshold=kb)
    return qe.EdgeConfig(vectors=vectors, wal_enabled=True, optimizers=optimizers)


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


def read_dims(root: Path, wanted: sc.WantedDims) -> sc.Dims | None:
    """Sizes recorded in ``root`` (checked against the wanted ones), or None if new."""
    meta = root / META_FILE
    if not meta.is_file():
        return None
    stored = json.loads(meta.read_text())
    if stored.get("schema_version") != sc.SCHEMA_VERSION:
        raise IncompatibleModelError(f"{meta}: unknown schema {stored.get('schema_version')}")
    dims = sc.Dims(int(stored["texture_dim"]), stored["embedding_dim"], stored.get("text_dim"),
                   stored.get("sentence_dim"))
    return wanted.check(dims, f"catalog {root}")


def open_shards(root: Path, dims: sc.Dims, hash_index: HashIndex) -> dict[str, qe.EdgeShard]:
    """Load or create both shards, then record the sizes (last: it marks success)."""
    shards: dict[str, qe.EdgeShard] = {}
    try:
        with edge_errors(f"opening catalog {root}"):
            for store in (sc.VIDEOS, sc.KEYFRAMES):
                where = root / store
                config = edge_config(dims, store, hash_index)
                if where.is_dir() and any(where.iterdir()):
                    shard = qe.EdgeShard.load(str(where), config)
                else:
                    shard = qe.EdgeShard.create(str(where), config)
                shards[store] = shard
                # A catalog from an older release gains the indexes added since.
                indexed = shard.info().payload_schema
                for field, kind in _INDEXES[store].items():
                    if field not in indexed:
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
        "sentence_dim": dims.sentence,
    }
    tmp = root / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta))
    tmp.replace(root / META_FILE)
    return shards


class EdgePointStore:
    """The catalog's two stores as Edge shards under ``root`` (see ``point_store``)."""

    backend = "qdrant_edge"

    def __init__(self, root: Path, hash_index: HashIndex | None = None) -> None:
        self.root = Path(root)
        self.hash_index = hash_index or HashIndex()
        self.label = str(self.root)
        self.shards: dict[str, qe.EdgeShard] = {}
        self.tag_root = self.root.with_name(self.root.name + TAGS_SUFFIX)
        self.tag_shard: qe.EdgeShard | None = None

    def _shard(self, store: str) -> qe.EdgeShard:
        if store == sc.TAGS:
            if self.tag_shard is None:
                raise CatalogError("the tag library is not open (open_tags first)")
            return self.tag_shard
        return self.shards[store]

    def open_tags(self, dim: int) -> None:
        if self.tag_shard is not None:
            return
        config = tag_library_config(dim)
        where = self.tag_root
        if where.is_dir() and any(where.iterdir()):
            try:
                self.tag_shard = qe.EdgeShard.load(str(where), config)
            except Exception as exc:
                if "ncompatible" in str(exc):
                    raise IncompatibleModelError(
                        f"the tag library in {where} holds vectors of another size than the "
                        f"tag encoder's {dim}: move it aside and add the tags again"
                    ) from exc
                raise
            return
        where.mkdir(parents=True, exist_ok=True)
        shard = qe.EdgeShard.create(str(where), config)
        shard.update(qe.UpdateOperation.create_field_index(
            sc.F_TAG_VERSION, qe.PayloadSchemaType.Integer))
        shard.flush()
        self.tag_shard = shard

    def errors(self, what: str) -> AbstractContextManager[None]:
        return edge_errors(what)

    def open(self, wanted: sc.WantedDims) -> sc.Dims | None:
        dims = read_dims(self.root, wanted)
        if dims is not None:
            self.create(dims)
        return dims

    def create(self, dims: sc.Dims) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.shards = open_shards(self.root, dims, self.hash_index)

    def drop(self) -> None:
        """The catalog's shards only: the tag library is not part of a backup."""
        self._close_catalog_shards()
        for name in (sc.VIDEOS, sc.KEYFRAMES):
            shutil.rmtree(self.root / name, ignore_errors=True)
        (self.root / META_FILE).unlink(missing_ok=True)

    def ping(self) -> None:
        """In-process: nothing to reach (a broken disk shows up as errors on calls)."""

    def upsert(self, store: str, points: Sequence[StoredPoint]) -> None:
        edge = [qe.Point(p.point_id, _any(p.vectors), p.payload) for p in points]
        self._shard(store).update(qe.UpdateOperation.upsert_points(edge))

    def delete(self, store: str, selector: list[str] | m.Filter) -> None:
        if isinstance(selector, m.Filter):
            flt = _filter(selector)
            assert flt is not None
            self._shard(store).update(qe.UpdateOperation.delete_points_by_filter(flt))
        else:
            self._shard(store).update(qe.UpdateOperation.delete_points(list(selector)))

    def flush(self, store: str) -> None:
        self._shard(store).flush()

    def retrieve(
        self, store: str, ids: Sequence[str], *, payload: Fields, vectors: Fields
    ) -> list[StoredPoint]:
        found = self._shard(store).retrieve(list(ids), with_payload=payload, with_vector=vectors)
        return [stored(p) for p in found]

    def scroll(
        self, store: str, request: m.ScrollRequest, timeout: int | None = None
    ) -> tuple[list[StoredPoint], Any]:
        """``timeout`` is not Edge's to honour: the catalog checks the budget before."""
        page, offset = self._shard(store).scroll(
            qe.ScrollRequest(
                offset=request.offset, limit=request.limit, filter=_filter(request.filter),
                with_payload=_any(request.with_payload), with_vector=_any(request.with_vector),
            )
        )
        return [stored(p) for p in page], offset

    def query_batch(
        self, store: str, requests: Sequence[m.QueryRequest], timeout: int | None = None
    ) -> list[list[ScoredPoint]]:
        batch = qe.QueryBatchRequest([_query(r) for r in requests])
        rows = self._shard(store).query_batch(batch)
        return [[scored(p) for p in row] for row in rows]

    def count(self, store: str, where: m.Filter | None = None) -> int:
        return self._shard(store).count(qe.CountRequest(exact=True, filter=_filter(where)))

    def facet(self, store: str, key: str) -> list[Any]:
        """Edge 0.9 keeps a value whose points were all deleted, with count 0: drop it."""
        found = self._shard(store).facet(qe.FacetRequest(key, limit=1000, exact=True))
        return [hit.value for hit in found.hits if hit.count > 0]

    def optimize(self) -> bool:
        return any([shard.optimize() for shard in self.shards.values()])

    def close(self) -> None:
        self._close_catalog_shards()
        if self.tag_shard is not None:
            self.tag_shard.flush()
            self.tag_shard.close()
            self.tag_shard = None

    def _close_catalog_shards(self) -> None:
        for shard in self.shards.values():
            shard.flush()
            shard.close()
        self.shards = {}


# -- qdrant-client request models -> Qdrant Edge's -------------------------------------


def _filter(flt: m.Filter | None) -> qe.Filter | None:
    if flt is None:
        return None
    return qe.Filter(
        must=_conditions(flt.must), should=_conditions(flt.should),
        must_not=_conditions(flt.must_not),
    )


def _conditions(conditions: Any) -> list[Any] | None:
    if conditions is None:
        return None
    return [_condition(c) for c in (conditions if isinstance(conditions, list) else [conditions])]


def _condition(cond: Any) -> Any:
    if isinstance(cond, m.Filter):
        return _filter(cond)
    if isinstance(cond, m.HasIdCondition):
        return qe.HasIdCondition({str(i) for i in cond.has_id})
    if isinstance(cond, m.FieldCondition) and isinstance(cond.match, m.MatchValue):
        return qe.FieldCondition(cond.key, match=qe.MatchValue(cond.match.value))
    if isinstance(cond, m.FieldCondition) and isinstance(cond.match, m.MatchTextAny):
        return qe.FieldCondition(cond.key, match=qe.MatchTextAny(cond.match.text_any))
    if isinstance(cond, m.FieldCondition) and isinstance(cond.match, m.MatchAny):
        return qe.FieldCondition(cond.key, match=qe.MatchAny(_any(list(cond.match.any))))
    raise TypeError(f"no Qdrant Edge form for the condition {cond!r}")


def _params(params: m.SearchParams | None) -> qe.SearchParams | None:
    if params is None:
        return None
    quant = params.quantization
    return qe.SearchParams(
        hnsw_ef=params.hnsw_ef,
        exact=bool(params.exact),
        quantization=None if quant is None else qe.QuantizationSearchParams(
            ignore=bool(quant.ignore), rescore=quant.rescore, oversampling=quant.oversampling
        ),
    )


def _nearest(query: Any, using: str | None) -> qe.Query:
    if not isinstance(query, list):
        raise TypeError(f"only nearest-vector queries have a Qdrant Edge form, not {query!r}")
    return qe.Query.Nearest(query, using=using)


def _query(request: m.QueryRequest) -> qe.QueryRequest:
    prefetch = request.prefetch or []
    return qe.QueryRequest(
        request.limit or 10,
        query=_nearest(request.query, request.using),
        prefetches=[
            qe.Prefetch(
                p.limit or 10, query=_nearest(p.query, p.using), params=_params(p.params),
                filter=_filter(p.filter), score_threshold=p.score_threshold,
            )
            for p in (prefetch if isinstance(prefetch, list) else [prefetch])
        ],
        filter=_filter(request.filter),
        score_threshold=request.score_threshold,
        params=_params(request.params),
        with_payload=_any(request.with_payload),
        with_vector=_any(request.with_vector),
    )


def _any(value: Any) -> Any:
    """Edge's stubs type vectors and selectors as invariant unions; ours are plain values."""
    return value
