"""Captions served end to end (seed 000): the real server on loopback with every model
`make export` writes (ONNX Runtime) and a Qdrant Edge catalog, driven through the SDK.
Indexing captions each video; GetVideo and hits return the sentence; SearchBySentence
finds a video by what its caption says; SearchByAudio hears a query spoken by Debian's
espeak-ng (WAV, and the same re-encoded to Opus by PyAV) and finds the video; hostile
audio gets INVALID_ARGUMENT that names no server path; reindex refreshes stale captions."""

from __future__ import annotations

import json
import math
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from vidsearch_client import VideoSearchClient
from vidsearch_client.errors import InvalidArgument

from tests.integration.conftest import LiveServer, make_config
from vidsearch.catalog import QdrantCatalog
from vidsearch.catalog import schema as sc
from vidsearch.catalog.snapshot_chunks import StoredPoint
from vidsearch.media.synthetic import render_video, write_video
from vidsearch.media.synthetic_audio import ESPEAK_RATE, espeak_available, speak, write_wav

VIDEOS = 6
SPOKEN = 1  # the video whose caption is read aloud
pytestmark = pytest.mark.skipif(not espeak_available(),
                                reason="needs Debian's espeak-ng (make speech)")


@pytest.fixture(scope="module")
def server(release_repository: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[LiveServer]:
    live = LiveServer(make_config(release_repository, tmp_path_factory.mktemp("cap") / "catalog"))
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> VideoSearchClient:
    """Generated videos of the captioner's test seeds (never trained on), indexed from
    files the server reads itself (so reindex can read them again)."""
    folder = tmp_path_factory.mktemp("caption_videos")
    client = VideoSearchClient(server.target, timeout=180)
    for i in range(VIDEOS):
        path = write_video(folder / f"c{i}.mp4", render_video(950_000 + i, 12.0, fps=8.0), 8.0)
        client.index_uri(str(path), f"c{i}")
    return client


def _speak(text: str, path: Path) -> Path:
    """``text`` as espeak-ng speaks it (en-us, 130 words a minute, its own sample rate),
    written as the WAV file a user would upload."""
    return write_wav(path, speak(text, ESPEAK_RATE, voice="en-us", speed_wpm=130), ESPEAK_RATE)


def _reencode(wav: Path, out: Path, codec: str, container: str) -> Path:
    """The same speech in another codec, by PyAV (48 kHz Opus in Ogg, AAC in M4A, ...)."""
    rate = 48_000 if codec == "libopus" else 22_050
    with av.open(str(wav)) as src, av.open(str(out), "w", format=container) as dst:
        stream = dst.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for frame in src.decode(audio=0):
            for piece in resampler.resample(frame):
                dst.mux(stream.encode(piece))
        for piece in resampler.resample(None):
            dst.mux(stream.encode(piece))
        dst.mux(stream.encode(None))
    return out


def test_every_indexed_video_has_its_caption(client: VideoSearchClient) -> None:
    captions = {}
    for i in range(VIDEOS):
        info = client.get(f"c{i}")
        assert info.caption.endswith(".") and len(info.caption.split()) >= 4
        assert info.caption_model_version == 1
        captions[info.video_id] = info.caption
    assert len(set(captions.values())) == VIDEOS  # each video its own sentence
    stats = client.stats()
    assert (stats.captions, stats.caption_model_version) == (True, 1)


def test_search_by_sentence_finds_the_video_its_caption_describes(
        client: VideoSearchClient) -> None:
    for i in range(VIDEOS):
        caption = client.get(f"c{i}").caption
        result = client.search_sentence(caption, top_k=3)
        first = result.hits[0]
        assert first.video.video_id == f"c{i}" and first.video.caption == caption
        assert first.sentence is not None and first.sentence.vector_rank == 1
        assert first.sentence.similarity == pytest.approx(1.0, abs=1e-3)
        # keywords fusion (the default): the facts matched and the pairs of them side by
        # side, plus a share below one for the cosine; the caption asked for names every
        # fact of the query, with its neighbours
        matched = first.sentence.matched_words
        assert matched == result.keywords and len(matched) >= 2
        keyword_score = first.score - 0.999 * (1 + first.sentence.similarity) / 2
        assert keyword_score == pytest.approx(round(keyword_score), abs=1e-3)
        assert round(keyword_score) >= len(matched) + 1
        assert {"sentence_encode", "sentence_search"} <= set(result.stage_seconds)


def test_a_query_worded_as_spoken_ranks_as_the_written_one(
        client: VideoSearchClient) -> None:
    """What a recogniser writes ("four scenes first a wave patterned ...": lower case, no
    punctuation or hyphens, counts in words) ranks the videos as the caption it reads."""
    from vidsearch.media.speech import spoken_words

    captions = [client.get(f"c{i}").caption for i in range(VIDEOS)]
    assert any(re.search(r"\d|\w-\w", c) for c in captions)  # something to normalise
    for caption in captions:
        written = client.search_sentence(caption, top_k=VIDEOS)
        spoken = client.search_sentence(" ".join(spoken_words(caption)), top_k=VIDEOS)
        assert spoken.hits[0].video.video_id == written.hits[0].video.video_id
        # the same facts matched in every video (the keyword score: the integer part; the
        # cosine's share below one may differ, the vector of "4," and "four" is not the same)
        assert ({h.video.video_id: math.floor(h.score) for h in spoken.hits}
                == {h.video.video_id: math.floor(h.score) for h in written.hits})
        assert len(spoken.keywords) == len(written.keywords)


def test_words_the_captions_never_use_are_read_as_theirs(client: VideoSearchClient) -> None:
    """"huge", "disc" and "rising" (held-out wording) are matched as "big", "disk" and
    "ascending", the phrases the captioner was trained to write."""
    unseen = client.search_sentence("a huge green disc rising", top_k=VIDEOS)
    trained = client.search_sentence("a big green disk ascending", top_k=VIDEOS)
    assert [h.video.video_id for h in unseen.hits] == [h.video.video_id for h in trained.hits]
    assert [h.score for h in unseen.hits] == pytest.approx([h.score for h in trained.hits])
    assert len(unseen.keywords) == len(trained.keywords) >= 3


def test_a_spoken_query_is_recognised_and_finds_the_video(
        client: VideoSearchClient, tmp_path: Path) -> None:
    caption = client.get(f"c{SPOKEN}").caption
    wav = _speak(caption, tmp_path / "query.wav")
    opus = _reencode(wav, tmp_path / "query.opus", "libopus", "ogg")
    said = set(caption.lower().replace(",", " ").replace(":", " ").replace(".", " ").split())
    for upload in (wav, opus):
        result = client.search_audio(upload, top_k=3)
        heard = result.recognized_text.split()
        assert heard, f"nothing recognised in {upload.name}"
        # most words heard were said (the domain language model keeps the rest close)
        assert sum(w in said or w.replace("-", "") in said for w in heard) >= 0.6 * len(heard)
        assert result.hits[0].video.video_id == f"c{SPOKEN}", (upload.name, heard)
        assert {"audio_decode", "speech_recognition", "sentence_search"} <= set(
            result.stage_seconds)


def _silent_wav(path: Path, seconds: float) -> Path:
    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=16_000, layout="mono")
        assert isinstance(stream, av.AudioStream)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, int(16_000 * seconds)), np.int16),
                                           format="s16", layout="mono")
        frame.sample_rate = 16_000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _two_hour_opus(path: Path) -> Path:
    """Two hours of Opus (silence at 6 kbit/s, about 2.7 MB): ten seconds encoded once by
    PyAV, their packets muxed 720 times. The container declares its length, which is
    refused before any decoding."""
    rate, segment = 48_000, path.with_name("segment.ogg")
    with av.open(str(segment), "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        stream.bit_rate = 6000
        frame = av.AudioFrame.from_ndarray(np.zeros((1, rate * 10), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for piece in av.AudioResampler(format=stream.format.name, layout="mono",
                                       rate=rate).resample(frame):
            out.mux(stream.encode(piece))
        out.mux(stream.encode(None))
    with av.open(str(segment)) as src, av.open(str(path), "w", format="ogg") as dst:
        template = src.streams.audio[0]
        packets = [(p.duration or 0, bytes(p)) for p in src.demux(template) if p.size]
        stream = dst.add_stream_from_template(template)
        pts = 0
        for _ in range(720):
            for duration, data in packets:
                packet = av.Packet(data)
                packet.pts = packet.dts = pts
                packet.duration, packet.stream = duration, stream
                packet.time_base = template.time_base  # type: ignore[assignment]
                dst.mux(packet)
                pts += duration
    return path


@pytest.mark.parametrize(("make", "words"), [
    (lambda d: d / "notes.wav", "carried no bytes"),
    (lambda d: _silent_wav(d / "silence.wav", 2.0), "silent"),
    (lambda d: _two_hour_opus(d / "long.opus"), "lasts 7205 s; the limit is 30 s"),
    (lambda d: d / "image.png", "a PNG image"),
    (lambda d: d / "readme.wav", "a text file"),
], ids=["zero-bytes", "silence", "two-hours", "not-audio-png", "not-audio-text"])
def test_hostile_audio_gets_a_clear_invalid_argument(
        client: VideoSearchClient, tmp_path: Path, make: Any, words: str) -> None:
    (tmp_path / "notes.wav").write_bytes(b"")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (tmp_path / "readme.wav").write_text("a red circle moving left\n")
    with pytest.raises(InvalidArgument) as err:
        client.search_audio(make(tmp_path))
    message = str(err.value)
    assert words in message and "/tmp" not in message and "upload-" not in message
    assert client.search_sentence("a red circle", top_k=1).hits  # still serving


def test_reindex_regenerates_stale_captions(client: VideoSearchClient,
                                            server: LiveServer) -> None:
    orchestrator = server.orchestrator
    assert orchestrator is not None
    catalog = orchestrator._catalog
    assert isinstance(catalog, QdrantCatalog)
    fresh = client.get("c2").caption
    point = sc.video_point_id("c2")
    [old] = catalog.store.retrieve(sc.VIDEOS, [point], payload=True, vectors=True)
    stale = {**old.payload, sc.F_CAPTION: "an old sentence", sc.F_CAPTION_VERSION: 0}
    catalog.store.upsert(sc.VIDEOS, [StoredPoint(point, old.vectors, stale)])
    catalog.store.flush(sc.VIDEOS)
    assert client.get("c2").caption == "an old sentence"
    report = orchestrator.reindex(progress=False)
    assert report.reindexed == ["c2"] and len(report.current) == VIDEOS - 1
    again = client.get("c2")
    assert (again.caption, again.caption_model_version) == (fresh, 1)


def test_caption_and_sentence_stages_are_in_the_metrics(client: VideoSearchClient,
                                                        server: LiveServer) -> None:
    client.search_sentence("a green ring", top_k=1)
    assert server.running is not None
    url = f"http://127.0.0.1:{server.running.metrics_port}/metrics"
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    seen = {(s.labels.get("pipeline"), s.labels.get("stage"))
            for family in text_string_to_metric_families(body) for s in family.samples
            if s.name == "vidsearch_stage_seconds_count" and s.value >= 1}
    assert {("index", "caption"), ("search_sentence", "sentence_encode"),
            ("search_sentence", "sentence_search"), ("search_audio", "audio_decode"),
            ("search_audio", "speech_recognition")} <= seen


def test_the_command_line_searches_by_sentence_and_by_voice(
        server: LiveServer, client: VideoSearchClient, tmp_path: Path, capsys: Any) -> None:
    """`vidsearch-client search --sentence` / `--audio` as a person runs them: a table for
    people, the same answer as JSON for scripts."""
    from vidsearch_client.cli import main

    caption = client.get(f"c{SPOKEN}").caption
    assert main(["--target", server.target, "search", "--sentence", caption, "--top-k", "3"]) == 0
    table = capsys.readouterr().out
    rows = [line.split() for line in table.splitlines() if line.split()[:1] == ["1"]]
    assert rows and rows[0][1] == f"c{SPOKEN}", table  # rank 1 is the described video
    assert caption in table
    wav = _speak(caption, tmp_path / "spoken.wav")
    assert main(["--target", server.target, "--json", "search", "--audio", str(wav),
                 "--top-k", "3"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["hits"][0]["video"]["video_id"] == f"c{SPOKEN}"
    assert answer["recognized_text"]  # what was heard comes back with the hits
    missing = tmp_path / "nothing.wav"
    assert main(["--target", server.target, "search", "--audio", str(missing)]) != 0
    assert "nothing.wav" in capsys.readouterr().err
