"""Cheap checks at the door, before any decoder sees a byte: is this a video container?

PyAV happily opens a JPEG (as a one-frame MJPEG "video"), a GIF or a raw H.264 dump, so
relying on the decoder alone would index photos. The first bytes of the file say which
container it is; anything not on the allow-list is rejected with a message naming what
the file looks like, so the caller knows what went wrong. No PyAV import here: the check
runs in the gRPC thread and must stay cheap.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from vidsearch.service.errors import invalid_argument

SNIFF_BYTES = 512
# Containers a vidsearch server can be told to accept (ServerConfig.allowed_containers).
KNOWN_CONTAINERS = ("mp4", "matroska", "avi", "mpegts", "mpeg", "flv", "ogg")
_BMFF_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"uuid"}
_DESCRIBE = {
    "mp4": "MP4/MOV",
    "matroska": "MKV/WebM",
    "avi": "AVI",
    "mpegts": "MPEG-TS",
    "mpeg": "MPEG-PS",
    "flv": "FLV",
    "ogg": "Ogg",
}


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t\f" for ch in text)


def _non_video(head: bytes) -> str | None:
    """What a rejected file most likely is, in words; None when unknown."""
    signatures: tuple[tuple[bytes, str], ...] = (
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"GIF8", "a GIF image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"\x1f\x8b", "a gzip archive"),
        (b"BZh", "a bzip2 archive"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (b"\xfd7zXZ\x00", "an xz archive"),
        (b"ID3", "an MP3 audio file"),
        (b"fLaC", "a FLAC audio file"),
        (b"\x00\x00\x00\x01", "a raw H.264/H.265 stream without a container"),
    )
    for magic, name in signatures:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "a WAV audio file"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF0 == 0xF0:
        return "an MP3/AAC audio stream"
    if _looks_like_text(head):
        return "a text file"
    return None


def sniff_container(head: bytes) -> str | None:
    """The container family of a file from its first bytes (see KNOWN_CONTAINERS)."""
    if len(head) >= 8 and head[4:8] in _BMFF_BOXES:
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpegts"
    return None


def check_container(path: Path, allowed: Collection[str], name: str = "the video") -> str:
    """Reject files whose container is not allowed; returns the sniffed container."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise invalid_argument(f"{name} is empty (0 bytes); send a video file")
    found = sniff_container(head)
    if found is not None and found in allowed:
        return found
    accepted = ", ".join(_DESCRIBE.get(c, c) for c in KNOWN_CONTAINERS if c in allowed)
    if found is not None:
        what = f"a {_DESCRIBE[found]} file, which this server does not accept"
    else:
        what = _non_video(head) or "not a video container this server recognises"
    raise invalid_argument(f"{name} is {what}; send a video file ({accepted})")


# Spoken queries (SearchByAudio): audio containers, sniffed the same way.
_AUDIO = {"wav": "WAV", "mp3": "MP3", "aac": "AAC (ADTS)", "mp4": "M4A/MP4", "ogg": "Ogg/Opus",
          "matroska": "WebM/MKV", "flac": "FLAC"}


def sniff_audio(head: bytes) -> str | None:
    """The audio container of a file from its first bytes (see ``_AUDIO``), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"ID3"):
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:  # ADTS: layer 0
        return "aac"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG audio frame
        return "mp3"
    if head.startswith(b"fLaC"):
        return "flac"
    found = sniff_container(head)
    return found if found in ("mp4", "ogg", "matroska") else None


def check_audio_container(path: Path, name: str = "the audio") -> str:
    """Reject files that are not audio this server decodes; returns the sniffed container."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise invalid_argument(f"{name} is empty (0 bytes); send a recording of the query")
    found = sniff_audio(head)
    if found is not None:
        return found
    what = _non_video(head) or "not an audio format this server recognises"
    accepted = ", ".join(_AUDIO.values())
    raise invalid_argument(f"{name} is {what}; send an audio file ({accepted})")
