"""ListVideos and UpdateVideo: pages of the catalog's videos behind opaque page tokens.

A token holds the store's offset and a digest of the filter it was made for, so a token
reused with another filter is refused (AIP-158) rather than silently skipping videos.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import astuple

from vidsearch.catalog.base import Catalog, VideoFilter, VideoInfo
from vidsearch.orchestrator.api import InvalidRequestError
from vidsearch.orchestrator.tags import check_in

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def _digest(only: VideoFilter) -> str:
    return hashlib.sha256(json.dumps(astuple(only)).encode()).hexdigest()[:16]


def encode_token(offset: str, only: VideoFilter) -> str:
    raw = json.dumps({"o": offset, "f": _digest(only)}).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token: str, only: VideoFilter) -> str:
    """The offset a token of ours holds; InvalidRequestError (field page_token) otherwise."""
    try:
        held = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        offset, digest = str(held["o"]), str(held["f"])
    except (ValueError, binascii.Error, UnicodeError, KeyError, TypeError):
        raise InvalidRequestError(
            "page_token is not one this server handed out: pass the next_page_token of the "
            "previous ListVideos answer, or none for the first page", field="page_token"
        ) from None
    if digest != _digest(only):
        raise InvalidRequestError(
            "page_token was made for another filter: keep the filter the same while paging, "
            "or start again without a token", field="page_token")
    return offset


def list_videos(
    catalog: Catalog, only: VideoFilter, page_size: int | None, page_token: str
) -> tuple[list[VideoInfo], str]:
    """One page of the videos passing ``only``, and the next page's token ("" at the end)."""
    size = check_in("page_size", page_size, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    offset = decode_token(page_token, only) if page_token else None
    videos, next_offset = catalog.list_videos(only, page_size=size, offset=offset)
    return videos, "" if next_offset is None else encode_token(next_offset, only)


def update_video(
    catalog: Catalog, video_id: str, title: str | None, tags: Sequence[str] | None
) -> VideoInfo:
    if title is None and tags is None:
        raise InvalidRequestError("nothing to update: name title and/or tags",
                                  field="update_mask")
    return catalog.update_video(video_id, title=title, tags=tags)
