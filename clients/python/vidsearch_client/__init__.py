"""vidsearch gRPC client SDK: index videos, search by video, recommend (no torch needed).

>>> from vidsearch_client import VideoSearchClient
>>> with VideoSearchClient("127.0.0.1:50051") as client:
...     hits = client.search_video("query.mp4", top_k=5).hits
"""

from vidsearch_client._retry import RetryPolicy
from vidsearch_client.aio import AsyncVideoSearchClient
from vidsearch_client.client import VideoSearchClient
from vidsearch_client.errors import (
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
    VidsearchError,
)
from vidsearch_client.types import (
    DownloadedVideo,
    IndexResult,
    MatchedSegment,
    Neighbour,
    SearchHit,
    SearchMode,
    SearchOptions,
    SearchResult,
    Stats,
    SuggestedTag,
    Tag,
    TaggedVideos,
    TagPage,
    TagSuggestions,
    TextMatch,
    TextSearchOptions,
    VideoInfo,
)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "AsyncVideoSearchClient",
    "Cancelled",
    "DeadlineExceeded",
    "DownloadedVideo",
    "FailedPrecondition",
    "IndexResult",
    "Internal",
    "InvalidArgument",
    "MatchedSegment",
    "Neighbour",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "RetryPolicy",
    "SearchHit",
    "SearchMode",
    "SearchOptions",
    "SearchResult",
    "Stats",
    "SuggestedTag",
    "Tag",
    "TagPage",
    "TagSuggestions",
    "TaggedVideos",
    "TextMatch",
    "TextSearchOptions",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "VideoInfo",
    "VideoSearchClient",
    "VidsearchError",
    "__version__",
]
