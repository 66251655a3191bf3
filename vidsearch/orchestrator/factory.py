"""Build the orchestrator that the config describes: backend + catalog + stages."""

from __future__ import annotations

from vidsearch.catalog.factory import open_catalog
from vidsearch.config import VidsearchConfig
from vidsearch.inference.factory import build_backend
from vidsearch.orchestrator.encoding import HASH_HEADS, VIDEO_EMBEDDER
from vidsearch.orchestrator.orchestrator import Orchestrator


def build_orchestrator(config: VidsearchConfig) -> Orchestrator:
    """Vector sizes come from the served models' signatures, never from a second setting."""
    backend = build_backend(config.inference)
    version = config.inference.model_version
    heads = backend.signature(HASH_HEADS, version)
    texture_dim = next(o.shape[-1] for o in heads.outputs if o.name == "texture")
    embedder = backend.signature(VIDEO_EMBEDDER, version)
    embedding_dim = embedder.outputs[0].shape[-1]
    catalog = open_catalog(config.catalog, texture_dim=texture_dim, embedding_dim=embedding_dim)
    return Orchestrator(
        config,
        backend,
        catalog,
        backend_name=config.inference.backend,
        catalog_name=config.catalog.backend,
    )
