"""The qdrant-client catalog beyond the shared contract: collection setup, error mapping.

Only qdrant-client's local mode and refused connections are available here; see the
module docstring of ``vidsearch.catalog.qdrant_cluster`` for what that leaves unverified.
"""

from __future__ import annotations

import socket
import time

import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m

from vidsearch.catalog import CatalogUnavailableError, QdrantClusterCatalog
from vidsearch.catalog import qdrant as core

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_collections_are_created_with_the_cluster_settings(mk) -> None:
    client = QdrantClient(":memory:")
    with QdrantClusterCatalog(
        client, prefix="px", texture_dim=8, embedding_dim=4, owns_client=False
    ) as catalog:
        catalog.upsert_video(mk.video("v1", frames=2, embedding=mk.embedding()))
        names = {c.name for c in client.get_collections().collections}
        assert names == {"px_videos", "px_keyframes"}
        vectors = client.get_collection("px_videos").config.params.vectors
        assert isinstance(vectors, dict)
        assert vectors["hash"].size == 128 and vectors["hash"].distance == m.Distance.DOT
        assert isinstance(vectors["hash"].quantization_config, m.BinaryQuantization)
        # The default hash index (auto): a graph, walked in segments from 100k codes
        graph = vectors["hash"].hnsw_config
        assert graph is not None and graph.m == 32
        assert graph.full_scan_threshold == 100_000 * 128 * 4 // 1024
        assert vectors["texture"].distance == m.Distance.EUCLID
        assert vectors["embedding"].distance == m.Distance.COSINE
        frames = client.get_collection("px_keyframes").config.params.vectors
        assert isinstance(frames, dict) and set(frames) == {"hash", "texture"}
        assert client.count("px_keyframes").count == 2
    # A second catalog on the same collections reads their sizes back.
    with QdrantClusterCatalog(client, prefix="px", owns_client=False) as again:
        assert again.stats().videos == 1
    client.close()


@pytest.mark.parametrize("grpc", [False, True], ids=["rest", "grpc"])
def test_unreachable_cluster_is_unavailable(grpc: bool) -> None:
    port = _closed_port()
    client = QdrantClient(host="127.0.0.1", port=port, grpc_port=port, prefer_grpc=grpc, timeout=2)
    started = time.monotonic()
    with pytest.raises(CatalogUnavailableError):
        QdrantClusterCatalog(client, prefix="x", texture_dim=8, embedding_dim=None)
    assert time.monotonic() - started < 30
    client.close()


def test_model_versions_written_by_another_process_show_after_the_cache_expires(
    mk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a shared cluster another indexer may write: cached versions expire."""
    monkeypatch.setattr(core, "MODEL_VERSIONS_MAX_AGE_S", 0.2)
    client = QdrantClient(":memory:")
    serving = QdrantClusterCatalog(client, prefix="p", texture_dim=8, owns_client=False)
    indexer = QdrantClusterCatalog(client, prefix="p", owns_client=False)
    serving.upsert_video(mk.video("v1", frames=1, model_version=1))
    assert serving.stats().model_versions == (1,)
    indexer.upsert_video(mk.video("v2", frames=1, model_version=2))
    time.sleep(0.3)
    assert serving.stats().model_versions == (1, 2)
    serving.close(), indexer.close(), client.close()


def test_index_above_sets_the_collections_indexing_threshold() -> None:
    """``catalog.hash_index.index_above`` reaches a cluster's collections as Qdrant's
    optimizer threshold (local mode ignores optimizer settings, so the request is checked)."""
    from vidsearch.catalog.hash_index import HashIndex
    from vidsearch.catalog.qdrant_cluster_store import _optimizers

    assert _optimizers(HashIndex()) is None  # Qdrant's own default
    diff = _optimizers(HashIndex(index_above=1000))
    assert diff is not None and diff.indexing_threshold == 1000 * 128 * 4 // 1024
