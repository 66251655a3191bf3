"""Build the catalog a configuration names, so callers never import a backend directly."""

from __future__ import annotations

import math
import ssl
from typing import Any

from qdrant_client import QdrantClient

from vidsearch.catalog.base import Catalog, CatalogUnavailableError
from vidsearch.catalog.hash_index import HashIndex
from vidsearch.catalog.qdrant_cluster import QdrantClusterCatalog
from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog
from vidsearch.config import CatalogConfig


def qdrant_tls_arguments(config: CatalogConfig) -> dict[str, Any]:
    """qdrant-client arguments that verify Qdrant's certificate with ``tls_ca_file``: the
    gRPC channel's root certificates and the REST (httpx) client's ``verify`` context."""
    if config.tls_ca_file is None:
        return {}
    try:
        roots = config.tls_ca_file.read_bytes()
        context = ssl.create_default_context(cafile=str(config.tls_ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"catalog.tls_ca_file {config.tls_ca_file}: {exc}") from exc
    return {"grpc_options": {"root_certificates": roots}, "verify": context}


def open_catalog(
    config: CatalogConfig,
    *,
    texture_dim: int | None,
    embedding_dim: int | None,
    text_dim: int | None = None,
    sentence_dim: int | None = None,
) -> Catalog:
    """Open (creating if needed) the catalog of ``config.backend``.

    - ``qdrant_edge``: embedded Qdrant Edge shards under ``config.path`` (default);
    - ``qdrant_cluster``: a Qdrant deployment at ``config.url`` (gRPC when
      ``prefer_grpc``), collections ``<collection_prefix>_videos`` / ``_keyframes``;
    - ``qdrant_local``: qdrant-client's pure-Python local mode at ``config.path``
      (tests and development only: brute force, slow past ~10k points).

    ``texture_dim`` may be None for an existing catalog (its stored size is used). A
    cluster that cannot be reached yet does not stop the server from starting: the
    catalog connects on first use and its readiness check reports it down meanwhile.
    """
    hash_index = HashIndex(**config.hash_index.model_dump())
    if config.backend == "qdrant_edge":
        return QdrantEdgeCatalog(
            config.path, texture_dim=texture_dim, embedding_dim=embedding_dim, text_dim=text_dim,
            sentence_dim=sentence_dim, hash_index=hash_index,
        )
    if config.backend == "qdrant_cluster":
        client = QdrantClient(
            url=config.url,
            api_key=config.api_key.get_secret_value() if config.api_key else None,
            prefer_grpc=config.prefer_grpc,
            timeout=max(1, math.ceil(config.timeout_s)),
            **qdrant_tls_arguments(config),
        )
        replication, shards = config.replication_factor, config.shard_number
        location, wait = config.url, True
        if config.prefer_grpc:  # qdrant-client dials gRPC on its own port, not the URL's
            location = f"{config.url} (gRPC port {client.init_options.get('grpc_port')})"
    elif config.backend == "qdrant_local":
        config.path.mkdir(parents=True, exist_ok=True)
        try:
            client = QdrantClient(path=str(config.path))
        except RuntimeError as exc:  # the folder is locked by another process
            raise CatalogUnavailableError(str(exc)) from exc
        replication, shards = 1, 1
        location, wait = str(config.path), False
    else:
        raise ValueError(f"unknown catalog backend {config.backend!r}")
    try:
        return QdrantClusterCatalog(
            client,
            prefix=config.collection_prefix,
            texture_dim=texture_dim,
            embedding_dim=embedding_dim,
            text_dim=text_dim,
            sentence_dim=sentence_dim,
            replication_factor=replication,
            shard_number=shards,
            location=location,
            wait_for_server=wait,
            hash_index=hash_index,
        )
    except BaseException:
        client.close()
        raise


def open_background_catalog(config: CatalogConfig, main: Catalog) -> Catalog:
    """The background set (videos never indexed, for score normalisation) of ``main``:
    a catalog of the same backend in its own place, so it can never answer a search.

    - ``qdrant_edge``: Edge shards in ``config.background_catalog_path()``
      (``<path>-background``);
    - ``qdrant_cluster`` / ``qdrant_local``: collections ``<prefix>_background_*`` on
      ``main``'s client (local mode allows one client per folder).

    Opened without sizes: an absent one stays empty (no folder or collection is made)
    until `vidsearch catalog background` fills it.
    """
    if isinstance(main, QdrantEdgeCatalog):
        return QdrantEdgeCatalog(config.background_catalog_path(), hash_index=main.hash_index)
    if isinstance(main, QdrantClusterCatalog):
        return main.sibling(config.background_collection_prefix())
    raise ValueError(f"no background catalog for {type(main).__name__}")
