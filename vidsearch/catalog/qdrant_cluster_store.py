"""The qdrant-client point store: two collections on a Qdrant cluster or in local mode.

``ClientPointStore`` is the catalog's storage API (``point_store``) over qdrant-client,
which speaks the same request models to a server (REST or gRPC) and to its local mode
(``QdrantClient(path=...)``). Every write waits for the acknowledgement, with strong
ordering, so ``flush`` has nothing left to do.

``<prefix>_keyframes`` is created before ``<prefix>_videos``, and the videos
collection is what marks a catalog as existing, so a set-up interrupted half-way is
finished by the next start. The tag library is ``<prefix>_tags``, opened on its own
(its vector size is the tag encoder's) and left alone by a restore. Creation tolerates
a concurrent creator (several serving pods starting together).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
from qdrant_client import QdrantClient
from qdrant_client import models as m
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

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

_RETRYABLE_GRPC = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_RETRYABLE_HTTP = {429, 502, 503, 504}
# No HNSW graph on hash/texture: every hash query is an exact scan.
_NO_GRAPH = m.HnswConfigDiff(m=0)
_INDEXES: dict[str, dict[str, m.PayloadSchemaType | m.TextIndexParams]] = {
    sc.VIDEOS: {
        sc.F_VIDEO_ID: m.PayloadSchemaType.KEYWORD,
        sc.F_TAGS: m.PayloadSchemaType.KEYWORD,  # finding videos by tag
        sc.F_TITLE_PREFIXES: m.PayloadSchemaType.KEYWORD,  # title_prefix filters
        sc.F_MODEL_VERSION: m.PayloadSchemaType.INTEGER,
        sc.F_TEXT_VERSION: m.PayloadSchemaType.INTEGER,
        # keyword match of SearchBySentence: words, lower-cased (as the Edge index)
        sc.F_CAPTION: m.TextIndexParams(type=m.TextIndexType.TEXT,
                                        tokenizer=m.TokenizerType.WORD, lowercase=True),
        sc.F_CAPTION_VERSION: m.PayloadSchemaType.INTEGER,
        sc.F_SENTENCE_VERSION: m.PayloadSchemaType.INTEGER,
    },
    sc.KEYFRAMES: {
        sc.F_VIDEO_ID: m.PayloadSchemaType.KEYWORD,
        sc.F_GENERATION: m.PayloadSchemaType.INTEGER,
    },
}


def _unavailable(what: str, where: str, detail: object) -> CatalogUnavailableError:
    """The message an operator (and a client, via UNAVAILABLE) reads: which Qdrant, what to
    check."""
    target = f"Qdrant at {where}" if where else "Qdrant"
    return CatalogUnavailableError(
        f"{what}: {target} is unreachable ({detail}); check that the Qdrant service is up "
        "and reachable from this server, and that catalog.url and catalog.api_key are right"
    )


@contextmanager
def client_errors(what: str, where: str = "") -> Iterator[None]:
    """Connection failures become ``CatalogUnavailableError`` (naming ``where``, the URL),
    other store errors CatalogError."""
    try:
        yield
    except (CatalogError, ValueError):
        raise
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        if code in _RETRYABLE_GRPC:
            detail = exc.details() if isinstance(exc, grpc.Call) else exc
            raise _unavailable(what, where, f"gRPC {code}: {detail}") from exc
        raise CatalogError(f"{what}: {exc}") from exc
    except (ResponseHandlingException, httpx.TransportError, ConnectionError, TimeoutError) as exc:
        raise _unavailable(what, where, exc) from exc
    except UnexpectedResponse as exc:
        if exc.status_code in _RETRYABLE_HTTP:
            raise _unavailable(what, where, f"HTTP {exc.status_code}") from exc
        raise CatalogError(f"{what}: {exc}") from exc


@dataclass(frozen=True)
class Topology:
    """How a collection is spread over the cluster."""

    replication_factor: int = 2
    shard_number: int = 3
    write_consistency_factor: int | None = None  # None: a majority of the replicas

    def wcf(self) -> int:
        return self.write_consistency_factor or self.replication_factor // 2 + 1


def existing_dims(client: QdrantClient, videos: str, wanted: sc.WantedDims) -> sc.Dims | None:
    """Vector sizes of an existing catalog (checked against the wanted ones), or None."""
    if not client.collection_exists(videos):
        return None
    vectors = client.get_collection(videos).config.params.vectors
    if not isinstance(vectors, Mapping) or sc.VEC_TEXTURE not in vectors:
        raise IncompatibleModelError(f"collection {videos} lacks named vector {sc.VEC_TEXTURE}")
    emb, text = vectors.get(sc.VEC_EMBEDDING), vectors.get(sc.VEC_TEXT)
    sentence = vectors.get(sc.VEC_SENTENCE)
    dims = sc.Dims(
        vectors[sc.VEC_TEXTURE].size, emb.size if emb else None, text.size if text else None,
        sentence.size if sentence else None,
    )
    return wanted.check(dims, f"collection {videos}")


def _vectors(dims: sc.Dims, store: str, hash_index: HashIndex) -> dict[str, m.VectorParams]:
    bq = m.BinaryQuantization(binary=m.BinaryQuantizationConfig(always_ram=True))
    graph = m.HnswConfigDiff(m=hash_index.graph_m, ef_construct=hash_index.ef_construct,
                             full_scan_threshold=hash_index.full_scan_threshold_kb)
    vectors = {
        sc.VEC_HASH: m.VectorParams(
            size=HASH_BITS, distance=m.Distance.DOT, quantization_config=bq, hnsw_config=graph
        ),
        sc.VEC_TEXTURE: m.VectorParams(
            size=dims.texture, distance=m.Distance.EUCLID, hnsw_config=_NO_GRAPH
        ),
    }
    if store == sc.VIDEOS and dims.embedding is not None:
        # Recommendation neighbours may be approximate: keep an HNSW graph there.
        vectors[sc.VEC_EMBEDDING] = m.VectorParams(
            size=dims.embedding, distance=m.Distance.COSINE, hnsw_config=m.HnswConfigDiff(m=16)
        )
    if store == sc.VIDEOS and dims.text is not None:
        vectors[sc.VEC_TEXT] = m.VectorParams(
            size=dims.text, distance=m.Distance.COSINE, hnsw_config=m.HnswConfigDiff(m=16)
        )
    if store == sc.VIDEOS and dims.sentence is not None:
        vectors[sc.VEC_SENTENCE] = m.VectorParams(
            size=dims.sentence, distance=m.Distance.COSINE, hnsw_config=m.HnswConfigDiff(m=16)
        )
    return vectors


def _optimizers(hash_index: HashIndex) -> m.OptimizersConfigDiff | None:
    threshold = hash_index.indexing_threshold_kb
    return None if threshold is None else m.OptimizersConfigDiff(indexing_threshold=threshold)


def create_collections(
    client: QdrantClient, names: Mapping[str, str], dims: sc.Dims, topology: Topology,
    hash_index: HashIndex,
) -> None:
    """Create what is missing: collections (key frames first), then payload indexes."""
    for store in (sc.KEYFRAMES, sc.VIDEOS):
        name = names[store]
        if not client.collection_exists(name):
            try:
                client.create_collection(
                    name,
                    vectors_config=_vectors(dims, store, hash_index),
                    hnsw_config=_NO_GRAPH,
                    optimizers_config=_optimizers(hash_index),
                    shard_number=topology.shard_number,
                    replication_factor=topology.replication_factor,
                    write_consistency_factor=topology.wcf(),
                )
            except (UnexpectedResponse, ValueError):
                if not client.collection_exists(name):  # else another process created it
                    raise
        indexed = client.get_collection(name).payload_schema or {}
        for field, kind in _INDEXES[store].items():
            if field not in indexed:
                client.create_payload_index(name, field, kind, wait=True)


_STRONG = m.WriteOrdering.STRONG


class ClientPointStore:
    """The catalog's two stores as collections ``<prefix>_videos`` / ``<prefix>_keyframes``
    reached through ``client`` (closed with the store when ``owns_client``)."""

    backend = "qdrant"

    def __init__(
        self,
        client: QdrantClient,
        prefix: str = "vidsearch",
        topology: Topology | None = None,
        *,
        owns_client: bool = True,
        location: str = "",
        hash_index: HashIndex | None = None,
    ) -> None:
        self.client, self.prefix = client, prefix
        self.hash_index = hash_index or HashIndex()
        self.topology = topology or Topology()
        self.owns_client = owns_client
        self.location = location  # the URL or folder, for messages
        self.names = {store: f"{prefix}_{store}" for store in (sc.VIDEOS, sc.KEYFRAMES, sc.TAGS)}
        self._tags_open = False
        self.label = self.names[sc.VIDEOS] + (f" at {location}" if location else "")

    def errors(self, what: str) -> AbstractContextManager[None]:
        return client_errors(what, self.location)

    def open(self, wanted: sc.WantedDims) -> sc.Dims | None:
        dims = existing_dims(self.client, self.names[sc.VIDEOS], wanted)
        if dims is not None:
            self.create(dims)  # finishes a set-up interrupted half-way
        return dims

    def create(self, dims: sc.Dims) -> None:
        create_collections(self.client, self.names, dims, self.topology, self.hash_index)

    def open_tags(self, dim: int) -> None:
        if self._tags_open:
            return
        name = self.names[sc.TAGS]
        if not self.client.collection_exists(name):
            try:
                self.client.create_collection(
                    name,
                    vectors_config={sc.VEC_TAG: m.VectorParams(size=dim,
                                                               distance=m.Distance.COSINE)},
                    shard_number=1,  # a library holds thousands of tags, not millions
                    replication_factor=self.topology.replication_factor,
                    write_consistency_factor=self.topology.wcf(),
                )
            except (UnexpectedResponse, ValueError):
                if not self.client.collection_exists(name):  # else a concurrent creator won
                    raise
        vectors = self.client.get_collection(name).config.params.vectors
        have = vectors.get(sc.VEC_TAG) if isinstance(vectors, Mapping) else None
        if have is None or have.size != dim:
            raise IncompatibleModelError(
                f"the tag library {name} holds vectors of another size than the tag encoder's "
                f"{dim}: delete the collection and add the tags again"
            )
        indexed = self.client.get_collection(name).payload_schema or {}
        if sc.F_TAG_VERSION not in indexed:
            self.client.create_payload_index(name, sc.F_TAG_VERSION,
                                             m.PayloadSchemaType.INTEGER, wait=True)
        self._tags_open = True

    def drop(self) -> None:
        """Videos first: without it the catalog reads as absent, never as half there."""
        for store in (sc.VIDEOS, sc.KEYFRAMES):
            if self.client.collection_exists(self.names[store]):
                self.client.delete_collection(self.names[store])

    def ping(self) -> None:
        self.client.collection_exists(self.names[sc.VIDEOS])

    def upsert(self, store: str, points: Sequence[StoredPoint]) -> None:
        structs = [m.PointStruct(id=p.point_id, vector=_any(p.vectors), payload=p.payload)
                   for p in points]
        self.client.upsert(self.names[store], structs, wait=True, ordering=_STRONG)

    def delete(self, store: str, selector: list[str] | m.Filter) -> None:
        chosen: m.PointsSelector = (
            m.FilterSelector(filter=selector) if isinstance(selector, m.Filter)
            else m.PointIdsList(points=_any(selector))
        )
        self.client.delete(self.names[store], chosen, wait=True, ordering=_STRONG)

    def flush(self, store: str) -> None:
        """Every write already waited for its acknowledgement."""

    def retrieve(
        self, store: str, ids: Sequence[str], *, payload: Fields, vectors: Fields
    ) -> list[StoredPoint]:
        found = self.client.retrieve(
            self.names[store], list(ids), with_payload=payload, with_vectors=vectors
        )
        return [stored(p) for p in found]

    def scroll(
        self, store: str, request: m.ScrollRequest, timeout: int | None = None
    ) -> tuple[list[StoredPoint], Any]:
        page, offset = self.client.scroll(
            self.names[store], scroll_filter=request.filter, limit=request.limit or 10,
            offset=request.offset, with_payload=_any(request.with_payload),
            with_vectors=_any(request.with_vector), timeout=timeout,
        )
        return [stored(p) for p in page], offset

    def query_batch(
        self, store: str, requests: Sequence[m.QueryRequest], timeout: int | None = None
    ) -> list[list[ScoredPoint]]:
        rows = self.client.query_batch_points(self.names[store], requests, timeout=timeout)
        return [[scored(p) for p in row.points] for row in rows]

    def count(self, store: str, where: m.Filter | None = None) -> int:
        return self.client.count(self.names[store], count_filter=where, exact=True).count

    def facet(self, store: str, key: str) -> list[Any]:
        found = self.client.facet(self.names[store], key, limit=1000, exact=True)
        return [hit.value for hit in found.hits]

    def optimize(self) -> bool:
        """A Qdrant server optimises by itself; local mode has nothing to optimise."""
        return False

    def close(self) -> None:
        if self.owns_client:
            self.client.close()


def _any(value: Any) -> Any:
    """qdrant-client types vectors and ids as invariant unions; ours are plain values."""
    return value
