"""Typed media errors: each says what is wrong with the input in words a person can act on."""

from __future__ import annotations

SOURCE = "{source}"  # where a message names its input


class MediaError(ValueError):
    """The input cannot be used as a video.

    A message names its input as :data:`SOURCE`: ``str(exc)`` fills in the file's path,
    which helps a local caller; a server fills in the name its client knows
    (:meth:`naming`), so a temporary upload file or a server folder never reaches a client.
    """

    def __init__(self, message: str, source: str = "the video") -> None:
        self.message = message
        self.source = source
        super().__init__(self.naming(source))

    def naming(self, source: str) -> str:
        """The message with its input called ``source``."""
        return self.message.replace(SOURCE, source)


class EmptyMediaError(MediaError):
    """Zero bytes, or a container without a single decodable frame."""


class CorruptMediaError(MediaError):
    """Not a media file PyAV can read, or damaged beyond decoding."""


class NoVideoStreamError(MediaError):
    """A readable media file without a video stream (e.g. audio only)."""


class UnsupportedMediaError(MediaError):
    """A container or codec this deployment does not accept."""


class MediaLimitError(MediaError):
    """Over a configured limit: resolution, duration or frame count."""


class DecodeTimeoutError(MediaError):
    """Decoding took longer than the request's budget."""
