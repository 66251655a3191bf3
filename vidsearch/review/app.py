"""The review page's HTTP front end (Starlette): static page + a small JSON API.

Every API call forwards the caller's ``Authorization: Bearer`` header to the gRPC server
through the SDK, so the front end grants nothing the token does not. The SDK's sync client
runs in Starlette's thread pool: the page often shares its process with the gRPC server
and other event loops, where grpc.aio's single poller is a known source of stuck calls.
Errors are JSON ``{"error": message}`` with the gRPC server's message (which never names
server paths) or a fixed sentence; no stack trace reaches a response.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from vidsearch_client import SearchOptions, VideoSearchClient, VidsearchError

from vidsearch.review.explain import result_json, video_json
from vidsearch.review.media import CONTENT_TYPES, MediaStore

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
VIDEO_CHOICES = 500  # indexed videos offered in "search by indexed video"

# gRPC status -> HTTP status of the JSON error the page shows.
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


@dataclass(frozen=True)
class ReviewSettings:
    """How the front end reaches the gRPC server, and its limits.

    ``max_upload_bytes`` is the server's (``media.max_upload_bytes``), so a clip the API
    would refuse is refused here before it is stored."""

    target: str
    max_upload_bytes: int
    timeout_s: float = 300.0
    clip_ttl_s: float = 3600.0
    credentials: grpc.ChannelCredentials | None = None  # TLS; None = plaintext
    # Search answers with many hits and segments outgrow gRPC's 4 MiB default.
    max_message_bytes: int = 64 * 1024 * 1024


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class ReviewApp:
    """Routes of the page; one gRPC channel shared by all callers, tokens per call."""

    def __init__(self, settings: ReviewSettings) -> None:
        self.settings = settings
        self.clips = MediaStore(settings.clip_ttl_s, 4 * settings.max_upload_bytes)
        self._channel: grpc.Channel | None = None

    # -- plumbing --------------------------------------------------------------------------
    def _open_channel(self) -> grpc.Channel:
        size = self.settings.max_message_bytes
        options = [("grpc.max_receive_message_length", size),
                   ("grpc.max_send_message_length", size)]
        target, credentials = self.settings.target, self.settings.credentials
        if credentials is None:
            return grpc.insecure_channel(target, options=options)
        return grpc.secure_channel(target, credentials, options=options)

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._channel = self._open_channel()
        try:
            yield
        finally:
            self._channel.close()
            self.clips.close()

    def client(self, request: Request) -> VideoSearchClient:
        assert self._channel is not None, "the app runs inside its lifespan"
        return VideoSearchClient(
            self.settings.target, channel=self._channel, token=_token(request),
            timeout=self.settings.timeout_s,
        )

    def _clip_json(self, path: Path, content_type: str, duration_s: float | None = None
                   ) -> dict[str, Any]:
        ticket = self.clips.add(path, content_type)
        return {"url": f"/clips/{ticket}", "content_type": content_type,
                "duration_s": duration_s}

    async def _receive_upload(self, request: Request) -> Path:
        """The request body as a file of the store, within the server's upload limit."""
        limit = self.settings.max_upload_bytes
        too_big = HTTPException(413, f"the clip is larger than the server's upload limit of "
                                     f"{limit} bytes (media.max_upload_bytes)")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_big
        path = self.clips.new_path()
        received = 0
        try:
            with path.open("wb") as fh:
                async for block in request.stream():
                    received += len(block)
                    if received > limit:
                        raise too_big
                    fh.write(block)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if received == 0:
            path.unlink(missing_ok=True)
            raise HTTPException(400, "the request carried no clip: choose a video file")
        return path

    @staticmethod
    def _options(request: Request) -> SearchOptions:
        params = request.query_params
        top_k = params.get("top_k")
        if top_k is not None and not top_k.isdigit():
            raise HTTPException(400, f"top_k must be a whole number, got {top_k!r}")
        mode = params.get("mode") or None
        try:
            return SearchOptions(mode=mode, top_k=int(top_k) if top_k else None)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None

    # -- routes ----------------------------------------------------------------------------
    async def index(self, _request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def stats(self, request: Request) -> Response:
        stats = await run_in_threadpool(self.client(request).stats)
        return JSONResponse({"videos": stats.videos, "text_search": stats.text_search,
                             "model_version": stats.model_version})

    async def videos(self, request: Request) -> Response:
        """The first page of indexed videos (ids, titles): the choices of "search by
        indexed video" (the field still takes any id)."""
        pages = self.client(request).list_video_pages(page_size=VIDEO_CHOICES)
        page = await run_in_threadpool(next, pages)
        return JSONResponse({"videos": [{"video_id": v.video_id, "title": v.title}
                                        for v in page.videos],
                             "more": bool(page.next_page_token)})  # fmt: skip

    async def search_upload(self, request: Request) -> Response:
        """Body: the clip's bytes; query: mode, top_k. The clip stays playable here."""
        options = self._options(request)
        path = await self._receive_upload(request)
        try:
            result = await run_in_threadpool(self.client(request).search_video, path, options)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        kind = request.headers.get("content-type", "")
        content_type = kind if kind.startswith("video/") else "video/mp4"
        body = result_json(result, text=False)
        body["query"] = self._clip_json(path, content_type, result.query_duration_s)
        return JSONResponse(body)

    async def search_indexed(self, request: Request) -> Response:
        """Search with an indexed video's own bytes (fetched by StreamVideo)."""
        video_id = request.path_params["video_id"]
        options = self._options(request)
        client = self.client(request)
        path = self.clips.new_path()
        try:
            fetched = await run_in_threadpool(client.download, video_id, path)
            result = await run_in_threadpool(client.search_video, path, options)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        body = result_json(result, text=False)
        content_type = CONTENT_TYPES.get(fetched.container, "application/octet-stream")
        body["query"] = self._clip_json(path, content_type, result.query_duration_s)
        body["query"]["video_id"] = video_id
        return JSONResponse(body)

    async def search_text(self, request: Request) -> Response:
        try:
            payload = await request.json()
        except ValueError:
            raise HTTPException(400, "send the text search as JSON: {\"text\": ...}") from None
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise HTTPException(400, "type a sentence to search for")
        top_k = payload.get("top_k")
        if top_k is not None and not isinstance(top_k, int):
            raise HTTPException(400, "top_k must be a whole number")
        result = await run_in_threadpool(self.client(request).search_text, text, top_k=top_k)
        return JSONResponse(result_json(result, text=True))

    async def play(self, request: Request) -> Response:
        """A ticket URL playing an indexed video; 409 when the server no longer has it."""
        video_id = request.path_params["video_id"]
        client = self.client(request)
        info = await run_in_threadpool(client.get, video_id)
        path = self.clips.new_path()
        try:
            fetched = await run_in_threadpool(client.download, video_id, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        content_type = CONTENT_TYPES.get(fetched.container, "application/octet-stream")
        return JSONResponse({**self._clip_json(path, content_type, info.duration_s),
                             "video": video_json(info)})

    async def clip(self, request: Request) -> Response:
        found = self.clips.get(request.path_params["ticket"])
        if found is None:
            raise HTTPException(404, "this clip has expired: search again to play it")
        # FileResponse answers Range requests, which seeking in a <video> needs.
        return FileResponse(found.path, media_type=found.content_type)


async def _vidsearch_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VidsearchError)
    message = exc.message
    if exc.code == grpc.StatusCode.UNAVAILABLE:
        message = f"the vidsearch server is unavailable; retry shortly ({message})"
    return _error(HTTP_STATUS.get(exc.code, 502), message)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, exc.detail)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    incident = uuid.uuid4().hex[:12]
    log.error("review page error %s", incident, exc_info=exc)
    return _error(500, f"the review page failed (incident {incident} in its log)")


def create_app(settings: ReviewSettings) -> Starlette:
    review = ReviewApp(settings)
    routes = [
        Route("/", review.index),
        Route("/api/stats", review.stats),
        Route("/api/videos", review.videos),
        Route("/api/search/upload", review.search_upload, methods=["POST"]),
        Route("/api/search/indexed/{video_id:path}", review.search_indexed, methods=["POST"]),
        Route("/api/search/text", review.search_text, methods=["POST"]),
        Route("/api/play/{video_id:path}", review.play, methods=["POST"]),
        Route("/clips/{ticket}", review.clip),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {VidsearchError: _vidsearch_error, HTTPException: _http_error,
                Exception: _unexpected}
    app = Starlette(routes=routes, lifespan=review.lifespan,
                    exception_handlers=handlers)
    app.state.review = review
    return app
