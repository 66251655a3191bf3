"""open_catalog builds the configured backend."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from vidsearch.catalog import (
    CatalogUnavailableError,
    QdrantClusterCatalog,
    QdrantEdgeCatalog,
    open_catalog,
)
from vidsearch.config import CatalogConfig

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize(
    ("backend", "kind"),
    [("qdrant_edge", QdrantEdgeCatalog), ("qdrant_local", QdrantClusterCatalog)],
)
def test_open_catalog_backends(tmp_path: Path, mk, backend: str, kind: type) -> None:
    config = CatalogConfig(backend=backend, path=tmp_path / "cat")  # type: ignore[arg-type]
    catalog = open_catalog(config, texture_dim=8, embedding_dim=4)
    assert isinstance(catalog, kind)
    catalog.upsert_video(mk.video("v1", frames=1))
    catalog.close()
    reopened = open_catalog(config, texture_dim=None, embedding_dim=None)
    assert reopened.get_video("v1") is not None
    reopened.close()


@pytest.mark.parametrize("grpc", [False, True], ids=["rest", "grpc"])
def test_open_unreachable_cluster_starts_and_reports_unavailable(grpc: bool) -> None:
    """A server must start while Qdrant is down (health NOT_SERVING, not a crash loop):
    opening succeeds, readiness is False, every call is CatalogUnavailableError naming the
    URL. Real refused connections: nothing listens on the port."""
    url = f"http://127.0.0.1:{_closed_port()}"
    config = CatalogConfig(backend="qdrant_cluster", url=url, prefer_grpc=grpc)
    catalog = open_catalog(config, texture_dim=8, embedding_dim=None)
    try:
        assert catalog.is_ready() is False
        with pytest.raises(CatalogUnavailableError, match=url.removeprefix("http://")):
            catalog.get_video("v1")
        with pytest.raises(CatalogUnavailableError, match="check that the Qdrant service"):
            catalog.stats()
        assert catalog.is_ready() is False  # still down, still answering
    finally:
        catalog.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("backend", "kind"),
    [("qdrant_edge", QdrantEdgeCatalog), ("qdrant_local", QdrantClusterCatalog)],
)
def test_background_catalog_is_separate_and_of_the_same_backend(
    tmp_path: Path, mk, backend: str, kind: type
) -> None:
    """The background set never shares a store with the catalog: what is written to one
    is not in the other, and an absent background is created only by its first video."""
    from vidsearch.catalog.factory import open_background_catalog

    config = CatalogConfig(backend=backend, path=tmp_path / "cat")  # type: ignore[arg-type]
    main = open_catalog(config, texture_dim=8, embedding_dim=4)
    background = open_background_catalog(config, main)
    try:
        assert isinstance(background, kind)
        if backend == "qdrant_edge":
            assert not (tmp_path / "cat-background").exists()
        assert background.stats().videos == 0
        background.upsert_video(mk.video("bg", frames=2))
        main.upsert_video(mk.video("v1", frames=1))
        assert background.get_video("v1") is None and main.get_video("bg") is None
        assert background.stats().videos == 1 and main.stats().videos == 1
        if backend == "qdrant_edge":
            assert (tmp_path / "cat-background").is_dir()
    finally:
        background.close()
        main.close()
    assert config.background_collection_prefix() == "vidsearch_background"
