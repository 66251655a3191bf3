"""`vidsearch eval sentences`: SearchBySentence and SearchByAudio on the captioner's test
videos, through the serving code in this process (ONNX Runtime, Qdrant Edge).

Each test video (the captioner's test seeds, rendered as its data renders them and written
as H.264 once under ``work_dir``) goes through the index pipeline's stages (decode, the
encoders, the served captioner's beam search and the caption's MiniLM vector) and the
orchestrator's catalog write. The same encoded videos are written a second time into a
ceiling catalog whose stored sentence is a true TRAIN-wording caption of the video (the
one `eval captions` scores as its ceiling) instead of the generated one: what the
search reaches when the captioner is perfect in the training wording.

The query of each video is another TRAIN-wording caption (not among the captioner's 20
references, not the ceiling's): typed, it goes through SearchBySentence; the same
queries also go through SearchByText (the visual text search, for comparison), and the
video's first HELD_OUT-wording caption through SearchBySentence. Spoken, a subsample of
the queries is read by espeak-ng in each voice and speed, clean and with white noise,
and sent through SearchByAudio (PyAV decode, pocketsphinx with the exported language
model, the same sentence search): word error rate against the words said, recognition
time, and the recall of what was heard against the same queries typed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vidsearch.evaluation.spoken import SPEEDS, VOICES, add_noise
from vidsearch.evaluation.spoken import word_errors as count_word_errors

TOP_K = 10
MISS = TOP_K + 1  # rank of a video not in the top 10


@dataclass(frozen=True)
class SentenceEvalOptions:
    checkpoint: Path = Path("models/starter/captioner.pt")
    repository: Path = Path("model_repository")
    videos: int | None = None  # test videos (default: the data config's n_test)
    queries: int = 40  # spoken queries per voice condition (evenly spread over the videos)
    voices: tuple[str, ...] = VOICES
    speeds: tuple[int, ...] = SPEEDS
    snr_db: float = 15.0
    work_dir: Path = Path("var/bench/sentences")
    progress: bool = True


@dataclass(frozen=True)
class TestVideo:
    video_id: str
    seed: int
    path: Path
    query: str  # a TRAIN-wording caption that is neither a reference nor the ceiling's
    true_caption: str  # the ceiling catalog's stored sentence
    held_out_query: str  # the first HELD_OUT-wording caption


@dataclass
class Spoken:
    """One voice condition's spoken queries."""

    voice: str
    speed: int
    noisy: bool
    words: int = 0
    errors: int = 0
    ranks: list[int] = field(default_factory=list)
    typed_ranks: list[int] = field(default_factory=list)  # the same queries typed
    recognition_s: list[float] = field(default_factory=list)
    audio_s: list[float] = field(default_factory=list)
    examples: list[tuple[str, str]] = field(default_factory=list)  # (said, heard)


def recall(ranks: Sequence[int]) -> dict[str, float]:
    n = max(1, len(ranks))
    return {f"r@{k}": sum(r <= k for r in ranks) / n for k in (1, 5, 10)}


def _data_config(checkpoint: Path) -> Any:
    from vidsearch.training.caption_data import CaptionDataConfig
    from vidsearch.training.checkpoint import load_checkpoint

    return CaptionDataConfig.model_validate(load_checkpoint(checkpoint).config.get("data", {}))


def render_test_videos(data: Any, n: int, folder: Path, progress: bool) -> list[TestVideo]:
    """The first ``n`` test seeds as H.264 files (rendered as the captioner's data is:
    ``render_fps``, ``render_width`` x ``render_height``), written once and reused."""
    from vidsearch.media.synthetic import render_video, write_video
    from vidsearch.training.captions import captions_for, held_out_captions

    folder.mkdir(parents=True, exist_ok=True)
    refs, out = data.captions_per_video, []
    for seed in tqdm(list(data.seeds("test"))[:n], desc="test videos", disable=not progress):
        path = folder / (
            f"{seed}-{data.duration_s:g}s-{data.render_width}x"
            f"{data.render_height}-{data.render_fps:g}fps.mp4"
        )
        if not path.is_file():
            frames = render_video(
                seed,
                data.duration_s,
                fps=data.render_fps,
                width=data.render_width,
                height=data.render_height,
            )
            write_video(path, frames, data.render_fps, crf=18)
        captions = captions_for(seed, data.duration_s, refs + 2)
        out.append(
            TestVideo(
                f"test-{seed}",
                seed,
                path,
                query=captions[refs + 1],
                true_caption=captions[refs],
                held_out_query=held_out_captions(seed, data.duration_s)[0],
            )
        )
    return out


def _config(repository: Path, root: Path) -> Any:
    """The embedded default (ONNX Runtime, Qdrant Edge under ``root``) with captions and
    text search on; decoding unsandboxed (a sandbox changes no result, only the cost of
    each file)."""
    from vidsearch.config import embedded_loopback_config

    config = embedded_loopback_config(repository, root)
    config.captions.enabled = config.text.enabled = "on"
    config.media.sandbox = False
    return config


def _encode(orchestrator: Any, video: TestVideo) -> Any:
    """IndexVideo's stages short of the catalog write (as a backfill's encode actors run
    them); the frames are dropped once encoded."""
    from vidsearch.orchestrator.indexing import IndexContext
    from vidsearch.orchestrator.stages import DecodeStage

    ctx = IndexContext(path=video.path, video_id=video.video_id, source=str(video.path))
    stages = [DecodeStage(orchestrator.decoder), *orchestrator.models.encode_stages()]
    orchestrator.runner.run("index", stages, ctx)
    ctx.decoded = None
    return ctx


def _with_caption(orchestrator: Any, ctx: Any, text: str) -> Any:
    """``ctx`` with ``text`` as its stored sentence (vector from the served MiniLM)."""
    from vidsearch.catalog.base import Caption
    from vidsearch.orchestrator.captions import sentence_vector

    models = orchestrator.models.text
    version = models.resolved_version()
    return dataclasses.replace(
        ctx,
        caption=Caption(
            text, ctx.caption.model_version, sentence_vector(models, text, version), version
        ),
    )


def _rank(video_id: str, hits: Sequence[Any]) -> int:
    ids = [h.video.video_id for h in hits]
    return ids.index(video_id) + 1 if video_id in ids else MISS


def _typed(
    orchestrator: Any,
    videos: Sequence[TestVideo],
    query: Callable[[TestVideo], str],
    desc: str,
    progress: bool,
) -> list[int]:
    from vidsearch.orchestrator.api import SentenceSearchOptions

    options = SentenceSearchOptions(top_k=TOP_K)
    return [
        _rank(v.video_id, orchestrator.sentences.search(query(v), options).hits)
        for v in tqdm(videos, desc=desc, disable=not progress)
    ]


def _by_text(orchestrator: Any, videos: Sequence[TestVideo], progress: bool) -> list[int]:
    from vidsearch.orchestrator.api import TextSearchOptions

    options = TextSearchOptions(top_k=TOP_K)
    return [
        _rank(v.video_id, orchestrator.search_by_text(v.query, options).hits)
        for v in tqdm(videos, desc="typed: SearchByText", disable=not progress)
    ]


def _as_heard(video: TestVideo) -> str:
    """The query as a recogniser that makes no error writes it: lower case, no punctuation
    or hyphens, counts in words."""
    from vidsearch.media.speech import spoken_words

    return " ".join(spoken_words(video.query))


def spread(n: int, k: int) -> list[int]:
    """``k`` indices evenly spread over ``range(n)``."""
    return sorted({int(i * n / k) for i in range(min(n, k))})


def _spoken(
    orchestrator: Any, videos: Sequence[TestVideo], typed: Sequence[int], opts: SentenceEvalOptions
) -> list[Spoken]:
    """Every voice x speed x (clean, noisy) condition over the same spoken subsample."""
    from vidsearch.media.speech import spoken_words
    from vidsearch.media.synthetic_audio import ESPEAK_RATE, speak, write_wav
    from vidsearch.orchestrator.api import SentenceSearchOptions

    options = SentenceSearchOptions(top_k=TOP_K)
    picked = spread(len(videos), opts.queries)
    conditions = [
        Spoken(voice, speed, noisy)
        for voice in opts.voices
        for speed in opts.speeds
        for noisy in (False, True)
    ]
    for cond in conditions:
        folder = opts.work_dir / "speech" / f"{cond.voice}-{cond.speed}"
        folder.mkdir(parents=True, exist_ok=True)
        desc = f"spoken: {cond.voice} {cond.speed} wpm{' + noise' if cond.noisy else ''}"
        for i in tqdm(picked, desc=desc, disable=not opts.progress):
            video = videos[i]
            samples = speak(video.query, ESPEAK_RATE, voice=cond.voice, speed_wpm=cond.speed)
            name = f"{video.seed}.wav"
            if cond.noisy:  # the same noise for a query on every run
                samples = add_noise(samples, opts.snr_db, np.random.default_rng(video.seed))
                name = f"{video.seed}-snr{opts.snr_db:g}.wav"
            wav = write_wav(folder / name, samples, ESPEAK_RATE)
            result = orchestrator.sentences.search_audio(wav, options)
            said, heard = spoken_words(video.query), result.recognized_text.split()
            cond.words += len(said)
            cond.errors += count_word_errors(said, heard)
            cond.ranks.append(_rank(video.video_id, result.hits))
            cond.typed_ranks.append(typed[i])
            cond.recognition_s.append(result.stage_seconds["speech_recognition"])
            cond.audio_s.append(samples.size / ESPEAK_RATE)
            if len(cond.examples) < 3:
                cond.examples.append((" ".join(said), " ".join(heard)))
    return conditions


def evaluate_sentences(opts: SentenceEvalOptions) -> dict[str, Any]:
    """The benchmark's figures (see the module doc), as plain data for JSON."""
    from vidsearch.orchestrator.factory import build_orchestrator

    started = time.perf_counter()
    data = _data_config(opts.checkpoint)
    n = opts.videos if opts.videos is not None else data.n_test
    videos = render_test_videos(data, n, opts.work_dir / "videos", opts.progress)
    root = opts.work_dir / f"catalogs-{time.strftime('%Y%m%d-%H%M%S')}"
    config = _config(opts.repository, root / "generated")
    served_fusion = config.captions.fusion
    orchestrator = build_orchestrator(config)

    def both(query: Callable[[TestVideo], str], desc: str) -> tuple[list[int], list[int]]:
        """Ranks as served, then with the other fusion (reciprocal rank) for comparison."""
        served = _typed(orchestrator, videos, query, desc, opts.progress)
        config.captions.fusion = "rrf"
        try:
            return served, _typed(orchestrator, videos, query, desc + " (rrf)", opts.progress)
        finally:
            config.captions.fusion = served_fusion

    try:
        t0, encoded = time.perf_counter(), []
        for video in tqdm(videos, desc="index (generated captions)", disable=not opts.progress):
            ctx = _encode(orchestrator, video)
            orchestrator.store_encoded([ctx])
            encoded.append(ctx)
        index_s = time.perf_counter() - t0
        ceiling = [
            _with_caption(orchestrator, ctx, v.true_caption)
            for ctx, v in zip(encoded, videos, strict=True)
        ]
        generated = {v.video_id: ctx.caption.text for v, ctx in zip(videos, encoded, strict=True)}
        typed, typed_rrf = both(lambda v: v.query, "typed")
        held_out, held_out_rrf = both(lambda v: v.held_out_query, "typed: held-out")
        as_heard = _typed(orchestrator, videos, _as_heard, "typed: as heard", opts.progress)
        by_text = _by_text(orchestrator, videos, opts.progress)
        spoken = _spoken(orchestrator, videos, typed, opts)
    finally:
        orchestrator.close()
    config = _config(opts.repository, root / "ceiling")
    orchestrator = build_orchestrator(config)
    try:
        orchestrator.store_encoded(ceiling)
        true_ranks, true_rrf = both(lambda v: v.query, "typed: ceiling")
    finally:
        orchestrator.close()
    _remove(root)
    return {
        "checkpoint": str(opts.checkpoint),
        "repository": str(opts.repository),
        "videos": len(videos),
        "duration_s": data.duration_s,
        "references_per_video": data.captions_per_video,
        "index_s_per_video": index_s / max(1, len(videos)),
        "fusion": served_fusion,
        "typed": {
            "generated": recall(typed),
            "true_caption": recall(true_ranks),
            "held_out_wording": recall(held_out),
            "as_heard": recall(as_heard),
            "search_by_text": recall(by_text),
            **({} if served_fusion == "rrf" else {
                "generated_rrf": recall(typed_rrf), "true_caption_rrf": recall(true_rrf),
                "held_out_wording_rrf": recall(held_out_rrf)}),
        },
        "ranks": {"generated": typed, "true_caption": true_ranks},
        "spoken_queries": len(spread(len(videos), opts.queries)),
        "spoken_as_heard_r@5": recall([as_heard[i] for i in spread(len(videos), opts.queries)])[
            "r@5"],
        "snr_db": opts.snr_db,
        "spoken": [_spoken_summary(c) for c in spoken],
        "examples": [
            {
                "video": v.video_id,
                "query": v.query,
                "caption": generated[v.video_id],
                "true_caption": v.true_caption,
            }
            for v in videos[:5]
        ],
        "seconds": time.perf_counter() - started,
    }


def _spoken_summary(c: Spoken) -> dict[str, Any]:
    short = [r for r, a in zip(c.recognition_s, c.audio_s, strict=True) if 2.0 <= a <= 4.0]
    return {
        "voice": c.voice,
        "speed": c.speed,
        "noisy": c.noisy,
        "queries": len(c.ranks),
        "words": c.words,
        "wer": c.errors / max(1, c.words),
        "r@5": recall(c.ranks)["r@5"],
        "typed_r@5": recall(c.typed_ranks)["r@5"],
        "recognition_s_per_audio_s": sum(c.recognition_s) / max(1e-9, sum(c.audio_s)),
        "recognition_s_p50": float(np.median(c.recognition_s)) if c.recognition_s else 0.0,
        "audio_s_p50": float(np.median(c.audio_s)) if c.audio_s else 0.0,
        "recognition_s_p50_2to4s": float(np.median(short)) if short else None,
        "examples": c.examples,
    }


def _remove(root: Path) -> None:
    import shutil

    shutil.rmtree(root, ignore_errors=True)
