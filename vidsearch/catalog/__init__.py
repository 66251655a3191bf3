"""The catalog: index table (hash codes) and mapping table (textures) in Qdrant.

``open_catalog`` builds the configured backend; every backend satisfies ``Catalog``.
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
from vidsearch.catalog.qdrant_cluster import QdrantClusterCatalog
from vidsearch.catalog.qdrant_edge import QdrantEdgeCatalog

__all__ = [
    "HASH_BITS",
    "Catalog",
    "CatalogError",
    "CatalogStats",
    "CatalogUnavailableError",
    "IncompatibleModelError",
    "KeyFrame",
    "KeyFrameHit",
    "QdrantClusterCatalog",
    "QdrantEdgeCatalog",
    "VideoCandidate",
    "VideoInfo",
    "VideoNotFoundError",
    "VideoRecord",
    "hamming_to_score_threshold",
    "open_catalog",
    "score_to_hamming",
]
