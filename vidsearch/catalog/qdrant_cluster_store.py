"""Collections of the cluster catalog: creation, size checks, error mapping.

``<prefix>_keyframes`` is created before ``<prefix>_videos``, and the videos
collection is what marks a catalog as existing, so a set-up interrupted half-way is
finished by the next start. Creation tolerates a concurrent creator (several serving
pods starting together).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

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

_RETRYABLE_GRPC = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_RETRYABLE_HTTP = {429, 502, 503, 504}
# No HNSW graph on hash/texture: every hash query is an exact scan.
_NO_GRAPH = m.HnswConfigDiff(m=0)
_INDEXES = {
    sc.VIDEOS: {
        sc.F_VIDEO_ID: m.PayloadSchemaType.KEYWORD,
        sc.F_MODEL_VERSION: m.PayloadSchemaType.INTEGER,
        sc.F_TEXT_VERSION: m.PayloadSchemaType.INTEGER,
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


def existing_dims(
    client: QdrantClient,
    videos: str,
    texture_dim: int | None,
    embedding_dim: int | None,
    text_dim: int | None = None,
) -> sc.Dims | None:
    """Vector sizes of an existing catalog (checked against the wanted ones), or None.

    A catalog created without text vectors stays so (see ``qdrant_edge_store``)."""
    if not client.collection_exists(videos):
        return None
    vectors = client.get_collection(videos).config.params.vectors
    if not isinstance(vectors, Mapping) or sc.VEC_TEXTURE not in vectors:
        raise IncompatibleModelError(f"collection {videos} lacks named vector {sc.VEC_TEXTURE}")
    emb, text = vectors.get(sc.VEC_EMBEDDING), vectors.get(sc.VEC_TEXT)
    dims = sc.Dims(
        vectors[sc.VEC_TEXTURE].size, emb.size if emb else None, text.size if text else None
    )
    for what, want, have in (
        ("texture_dim", texture_dim, dims.texture),
        ("embedding_dim", embedding_dim, dims.embedding),
        ("text_dim", text_dim if dims.text is not None else None, dims.text),
    ):
        if want is not None and want != have:
            raise IncompatibleModelError(f"collection {videos} has {what}={have}, not {want}")
    return dims


def _vectors(dims: sc.Dims, store: str) -> dict[str, m.VectorParams]:
    bq = m.BinaryQuantization(binary=m.BinaryQuantizationConfig(always_ram=True))
    vectors = {
        sc.VEC_HASH: m.VectorParams(
            size=HASH_BITS, distance=m.Distance.DOT, quantization_config=bq, hnsw_config=_NO_GRAPH
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
    return vectors


def create_collections(
    client: QdrantClient, names: Mapping[str, str], dims: sc.Dims, topology: Topology
) -> None:
    """Create what is missing: collections (key frames first), then payload indexes."""
    for store in (sc.KEYFRAMES, sc.VIDEOS):
        name = names[store]
        if not client.collection_exists(name):
            try:
                client.create_collection(
                    name,
                    vectors_config=_vectors(dims, store),
                    hnsw_config=_NO_GRAPH,
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
