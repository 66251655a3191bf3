"""The catalog: index table (hash codes) and mapping table (textures) in Qdrant.

``open_catalog`` builds the configured backend: one ``QdrantCatalog`` (all the logic)
over a Qdrant Edge directory (``QdrantEdgeCatalog``) or qdrant-client collections
(``QdrantClusterCatalog``); it satisfies ``Catalog`` and ``CatalogSnapshots`` (backup /
restore archives, ``snapshots``).
"""

from vidsearch.catalog.base import (
    HASH_BITS,
    Catalog,
    CatalogError,
    CatalogStats,
    CatalogUnavailableError,
    IncompatibleModelError,
    KeyFrame,
    KeyFrameHit,
    VideoCandidate,
    VideoInfo,
    VideoNotFoundError,
    VideoRecord,
    hamming_to_score_threshold,
    score_to_hamming,
)
from vidsearch.catalog.factory import open_catalog
from vidsearch.catalog.qdrant import QdrantCatalog
from vidsearch.catalog.qdrant_cluster import QdrantClusterCatalog
from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog
from vidsearch.catalog.snapshots import (
    CatalogNotEmptyError,
    CatalogSnapshots,
    SnapshotError,
    SnapshotManifest,
)

__all__ = [
    "HASH_BITS",
    "Catalog",
    "CatalogError",
    "CatalogNotEmptyError",
    "CatalogSnapshots",
    "CatalogStats",
    "CatalogUnavailableError",
    "IncompatibleModelError",
    "KeyFrame",
    "KeyFrameHit",
    "QdrantCatalog",
    "QdrantClusterCatalog",
    "QdrantEdgeCatalog",
    "SnapshotError",
    "SnapshotManifest",
    "VideoCandidate",
    "VideoInfo",
    "VideoNotFoundError",
    "VideoRecord",
    "hamming_to_score_threshold",
    "open_catalog",
    "score_to_hamming",
]
