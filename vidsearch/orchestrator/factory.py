"""Build the orchestrator that the config describes: backend + catalog + stages."""

from __future__ import annotations

from vidsearch.catalog.factory import open_background_catalog, open_catalog
from vidsearch.config import VidsearchConfig
from vidsearch.contract.models import EMBEDDING, HASH_TEXTURE_HEADS, TEXTURE, VIDEO_EMBEDDER
from vidsearch.inference.base import InferenceBackend
from vidsearch.inference.factory import build_backend
from vidsearch.orchestrator.captions import serves_caption_models
from vidsearch.orchestrator.orchestrator import Orchestrator
from vidsearch.orchestrator.text_search import TextModels, serves_text_models


def build_orchestrator(config: VidsearchConfig) -> Orchestrator:
    """Vector sizes come from the served models' signatures, never from a second setting."""
    backend = build_backend(config.inference)
    version = config.inference.model_version
    heads = backend.signature(HASH_TEXTURE_HEADS.name, version)
    texture_dim = next(o.shape[-1] for o in heads.outputs if o.name == TEXTURE.name)
    embedder = backend.signature(VIDEO_EMBEDDER.name, version)
    embedding_dim = next(o.shape[-1] for o in embedder.outputs if o.name == EMBEDDING.name)
    text_dim = None
    if config.text.enabled != "off":
        if serves_text_models(backend):
            text_dim = TextModels(backend, config.text).embed_dim
        elif config.text.enabled == "on":
            backend.close()
            raise RuntimeError(
                "text.enabled=on but the model repository serves no text models: export them "
                "with `vidsearch export text-video --checkpoint models/text_video/text_video.pt`"
            )
    captions = wants_captions(config, backend)
    sentence_dim = None
    if captions and text_dim is not None:
        sentence_dim = TextModels(backend, config.text).sentence_dim
    catalog = open_catalog(
        config.catalog, texture_dim=texture_dim, embedding_dim=embedding_dim, text_dim=text_dim,
        sentence_dim=sentence_dim,
    )
    background = None
    if config.search.normalise and config.search.alignment:
        try:
            background = open_background_catalog(config.catalog, catalog)
        except BaseException:
            catalog.close()
            backend.close()
            raise
    return Orchestrator(
        config,
        backend,
        catalog,
        backend_name=config.inference.backend,
        catalog_name=config.catalog.backend,
        text_search=text_dim is not None and catalog.has_text_vectors(),
        captions=captions,
        background=background,
    )


def wants_captions(config: VidsearchConfig, backend: InferenceBackend) -> bool:
    """Caption indexed videos: ``captions.enabled`` auto (when the captioner is served),
    on (refuse to start without it) or off."""
    if config.captions.enabled == "off":
        return False
    if serves_caption_models(backend):
        return True
    if config.captions.enabled == "on":
        backend.close()
        raise RuntimeError(
            "captions.enabled=on but the model repository serves no caption_encoder and "
            "caption_step: export them with `vidsearch export --family captions "
            "--checkpoint models/starter/captioner.pt`")
    return False
