"""Build the catalog a configuration names, so callers never import a backend directly."""

from __future__ import annotations

from qdrant_client import QdrantClient

from vidsearch.catalog.base import Catalog, CatalogUnavailableError
from vidsearch.catalog.qdrant_cluster import QdrantClusterCatalog
from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog
from vidsearch.config import CatalogConfig


def open_catalog(
    config: CatalogConfig,
    *,
    texture_dim: int | None,
    embedding_dim: int | None,
    text_dim: int | None = None,
) -> Catalog:
    """Open (creating if needed) the catalog of ``config.backend``.

    - ``qdrant_edge``: embedded Qdrant Edge shards under ``config.path`` (default);
    - ``qdrant_cluster``: a Qdrant deployment at ``config.url`` (gRPC when
      ``prefer_grpc``), collections ``<collection_prefix>_videos`` / ``_keyframes``;
    - ``qdrant_local``: qdrant-client's pure-Python local mode at ``config.path``
      (tests and development only: brute force, slow past ~10k points).

    ``texture_dim`` may be None for an existing catalog (its stored size is used).
    """
    if config.backend == "qdrant_edge":
        return QdrantEdgeCatalog(
            config.path, texture_dim=texture_dim, embedding_dim=embedding_dim, text_dim=text_dim
        )
    if config.backend == "qdrant_cluster":
        client = QdrantClient(
            url=config.url,
            api_key=config.api_key.get_secret_value() if config.api_key else None,
            prefer_grpc=config.prefer_grpc,
        )
        replication, shards = config.replication_factor, config.shard_number
    elif config.backend == "qdrant_local":
        config.path.mkdir(parents=True, exist_ok=True)
        try:
            client = QdrantClient(path=str(config.path))
        except RuntimeError as exc:  # the folder is locked by another process
            raise CatalogUnavailableError(str(exc)) from exc
        replication, shards = 1, 1
    else:
        raise ValueError(f"unknown catalog backend {config.backend!r}")
    try:
        return QdrantClusterCatalog(
            client,
            prefix=config.collection_prefix,
            texture_dim=texture_dim,
            embedding_dim=embedding_dim,
            text_dim=text_dim,
            replication_factor=replication,
            shard_number=shards,
        )
    except BaseException:
        client.close()
        raise
