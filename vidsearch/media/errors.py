"""Typed media errors: each says what is wrong with the input in words a person can act on."""

from __future__ import annotations


class MediaError(ValueError):
    """The input cannot be used as a video."""


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
