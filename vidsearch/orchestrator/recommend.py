"""The recommendation pipeline: one stage, the nearest videos by stored embedding."""

from __future__ import annotations

from dataclasses import dataclass, field

from vidsearch.catalog.base import Catalog, VideoInfo, VideoNotFoundError
from vidsearch.deadline import RequestBudget


@dataclass
class RecommendContext:
    video_id: str
    limit: int
    budget: RequestBudget = field(default_factory=RequestBudget.unlimited)
    found: list[tuple[VideoInfo, float]] = field(default_factory=list)


class EmbeddingNeighbours:
    """The ``limit`` videos nearest (cosine) to an indexed one's embedding, itself excluded."""

    name = "embedding_neighbours"
    resource = "catalog"

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __call__(self, ctx: RecommendContext) -> None:
        try:
            ctx.found = self._catalog.nearest_by_embedding(ctx.video_id, ctx.limit)
        except VideoNotFoundError:  # the catalog's error carries only the id
            raise VideoNotFoundError(
                f"no indexed video has id {ctx.video_id!r}: recommendations start from a "
                "video in the catalog; index it first, or check the id with GetVideo "
                "(`vidsearch get ID`)"
            ) from None
