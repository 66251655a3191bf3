"""vidsearch gRPC client SDK: index videos, search by video, recommend (no torch needed).

>>> from vidsearch_client import VideoSearchClient
>>> with VideoSearchClient("127.0.0.1:50051") as client:
...     hits = client.search_video("query.mp4", top_k=5).hits
"""

from vidsearch_client._channel import Keepalive
from vidsearch_client._retry import RetryPolicy
from vidsearch_client._version import VERSION
from vidsearch_client.aio import AsyncVideoSearchClient
from vidsearch_client.client import VideoSearchClient
from vidsearch_client.errors import (
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    ErrorDetails,
    FailedPrecondition,
    FieldViolation,
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
    IndexItem,
    IndexOutcome,
    IndexResult,
    MatchedSegment,
    Neighbour,
    SearchHit,
    SearchMode,
    SearchOptions,
    SearchResult,
    SentenceMatch,
    SentenceSearchOptions,
    Stats,
    SuggestedTag,
    Tag,
    TaggedVideos,
    TagPage,
    TagSuggestions,
    TextMatch,
    TextSearchOptions,
    VideoFilter,
    VideoInfo,
    VideoPage,
)

__version__ = VERSION

__all__ = [
    "AlreadyExists",
    "AsyncVideoSearchClient",
    "Cancelled",
    "DeadlineExceeded",
    "DownloadedVideo",
    "ErrorDetails",
    "FailedPrecondition",
    "FieldViolation",
    "IndexItem",
    "IndexOutcome",
    "IndexResult",
    "Internal",
    "InvalidArgument",
    "Keepalive",
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
    "SentenceMatch",
    "SentenceSearchOptions",
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
    "VideoFilter",
    "VideoInfo",
    "VideoPage",
    "VideoSearchClient",
    "VidsearchError",
    "__version__",
]
