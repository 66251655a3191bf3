"""Subtitles embedded in a video (mov_text in MP4, SubRip/ASS in MKV): the text input
tag suggestion takes besides the title (seed 004, claim 6).

No subtitle stream is normal and gives "". The writer side (``media.synthetic``) needs
the minimal ASS header FFmpeg's subtitle encoders require, so it lives here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import av

from vidsearch.media.decode import Source, open_container, source_name
from vidsearch.media.errors import SOURCE, CorruptMediaError

# FFmpeg's text-subtitle encoders refuse to open without an ASS header.
ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    b"BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    b"BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0"
    b"\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, "
    b"Effect, Text\n"
)
_OVERRIDE = re.compile(r"\{[^}]*\}")  # ASS style overrides such as {\i1}


@dataclass(frozen=True)
class Cue:
    """One subtitle shown from ``start_s`` to ``end_s``."""

    start_s: float
    end_s: float
    text: str


def read_subtitle_cues(source: Source, *, max_chars: int = 20_000) -> list[Cue]:
    """The cues of the first text subtitle stream, in file order ([] when there is none).

    Text beyond ``max_chars`` in total is dropped: subtitles feed a sentence encoder that
    reads a few hundred tokens, and a hostile file must not grow the request."""
    name = source_name(source)
    container = open_container(source)
    try:
        if not container.streams.subtitles:
            return []
        stream = container.streams.subtitles[0]
        cues: list[Cue] = []
        total = 0
        try:
            for packet in container.demux(stream):
                if packet.pts is None or packet.time_base is None:
                    continue
                start = float(packet.pts * packet.time_base)
                end = start + float((packet.duration or 0) * packet.time_base)
                for sub in packet.decode():
                    text = _plain_text(sub)
                    if not text or total >= max_chars:
                        continue
                    text = text[: max_chars - total]
                    total += len(text)
                    cues.append(Cue(start, end, text))
        except av.error.FFmpegError as exc:
            if not cues:
                raise CorruptMediaError(
                    f"the subtitles of {SOURCE} could not be read ({exc.__class__.__name__})",
                    name,
                ) from exc
        return cues
    finally:
        container.close()


def read_subtitles(source: Source, *, max_chars: int = 20_000) -> str:
    """All subtitle text as one string (cues joined by spaces); "" when there is none."""
    return " ".join(c.text for c in read_subtitle_cues(source, max_chars=max_chars))


def _plain_text(sub: object) -> str:
    """A decoded subtitle's words: ASS dialogue without overrides, line breaks as spaces.
    Bitmap subtitles (DVD, PGS) carry no text and give ""."""
    dialogue = getattr(sub, "dialogue", None)
    if not isinstance(dialogue, bytes):
        return ""
    text = dialogue.decode("utf-8", errors="replace")
    text = _OVERRIDE.sub("", text).replace("\\N", " ").replace("\\n", " ")
    return " ".join(text.split())
