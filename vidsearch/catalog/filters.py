"""Video filters (ListVideos, and both searches) as Qdrant conditions on indexed payload
fields, so the catalog selects the videos itself instead of a caller dropping hits after.

A title prefix is matched exactly through ``schema.title_prefixes``: every prefix of the
title up to ``MAX_TITLE_PREFIX`` characters, stored (keyword-indexed) with the video,
because Qdrant's keyword index matches whole values and its full-text index matches words.
"""

from __future__ import annotations

from qdrant_client import models as m

from vidsearch.catalog import schema as sc
from vidsearch.catalog.base import VideoFilter
from vidsearch.catalog.point_store import match

MAX_TITLE_PREFIX = sc.MAX_TITLE_PREFIX
MAX_FILTER_TAGS = 64
MAX_FILTER_IDS = 1000


def check_filter(where: VideoFilter) -> None:
    """Refuse a filter the index cannot answer exactly (the service names the field first)."""
    if len(where.title_prefix) > MAX_TITLE_PREFIX:
        raise ValueError(f"title_prefix is limited to {MAX_TITLE_PREFIX} characters")
    if len(where.tags) > MAX_FILTER_TAGS or len(where.video_ids) > MAX_FILTER_IDS:
        raise ValueError(f"a filter holds at most {MAX_FILTER_TAGS} tags and "
                         f"{MAX_FILTER_IDS} video ids")


def video_conditions(where: VideoFilter | None) -> list[m.Condition]:
    """Conditions on the videos store that all must hold (none: every video passes)."""
    if where is None:
        return []
    check_filter(where)
    conditions: list[m.Condition] = [match(sc.F_TAGS, tag) for tag in where.tags]
    if where.video_ids:
        conditions.append(m.FieldCondition(key=sc.F_VIDEO_ID,
                                           match=m.MatchAny(any=list(where.video_ids))))
    if where.title_prefix:
        conditions.append(match(sc.F_TITLE_PREFIXES, where.title_prefix))
    if where.model_version is not None:
        conditions.append(match(sc.F_MODEL_VERSION, int(where.model_version)))
    return conditions


def videos_filter(where: VideoFilter | None, *extra: m.Condition) -> m.Filter | None:
    """The filter, plus ``extra`` conditions, as one Qdrant filter (None: no condition)."""
    must = [*video_conditions(where), *extra]
    return m.Filter(must=must) if must else None


def keyframes_of(video_ids: list[str]) -> m.Filter:
    """Key frames of these videos only (a filter resolved to ids first: key-frame points
    carry no title or tags)."""
    return m.Filter(must=[m.FieldCondition(key=sc.F_VIDEO_ID, match=m.MatchAny(any=video_ids))])
