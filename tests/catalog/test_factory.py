"""open_catalog builds the configured backend."""

from __future__ import annotations

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


def test_open_unreachable_cluster(tmp_path: Path) -> None:
    config = CatalogConfig(backend="qdrant_cluster", url="http://127.0.0.1:1", prefer_grpc=False)
    with pytest.raises(CatalogUnavailableError):
        open_catalog(config, texture_dim=8, embedding_dim=None)
