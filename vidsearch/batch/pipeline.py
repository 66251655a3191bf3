"""`vidsearch backfill` as a Ray Data pipeline: manifest -> sandboxed decode (CPU tasks)
-> encode (an actor pool, each actor holding an inference backend: ONNX Runtime in
process, or Triton over gRPC) -> catalog writes in the driver, through the orchestrator's
own write stage (``Orchestrator.store_encoded``: a video is visible whole or not at all).

Resumable: before decoding, a task hashes the file; a video whose id is indexed with that
content at the current model (and text) version is skipped, so a killed run re-run
writes only what was not committed. Each stage of a video is tried again after a
transient error (a cap of ``retries``); a video that still fails, or whose file is not
a usable video, lands in the failure report and the others go on.

The driver is the only writer, so the embedded catalog (one process owns a Qdrant Edge
shard) works as well as a Qdrant cluster; encoders never open the catalog.
"""

from __future__ import annotations

import errno
import logging
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from vidsearch.batch.manifest import ManifestEntry
from vidsearch.batch.report import FAILED, INDEXED, SKIPPED, BackfillReport, Item
from vidsearch.catalog.base import Caption, TagFeature, TextFeatures
from vidsearch.config import VidsearchConfig
from vidsearch.inference.base import ModelNotFoundError
from vidsearch.media.errors import DecodeTimeoutError, MediaError
from vidsearch.orchestrator.admission import StageLimiters
from vidsearch.orchestrator.api import DuplicateContentError
from vidsearch.orchestrator.encoding import DecodedFrames, EncodedVideo, FrameDecoder, file_sha256
from vidsearch.orchestrator.indexing import IndexContext, IndexModels
from vidsearch.orchestrator.orchestrator import Orchestrator
from vidsearch.orchestrator.pipeline import PipelineRunner, Stage
from vidsearch.orchestrator.reindex import is_current, plan_reindex
from vidsearch.orchestrator.stages import DecodeStage

log = logging.getLogger(__name__)
PIPELINE = "backfill"  # the stage-seconds label of a backfill
MAX_BLOCKS = 4096  # manifest blocks (one video each up to this many): the tasks in flight
Encoded = tuple[EncodedVideo, TextFeatures | None, TagFeature | None, Caption | None]


@dataclass(frozen=True)
class BackfillOptions:
    """How the pipeline runs: retries per stage of a video, its parallelism and batches."""

    model_version: int | None = None  # None: the latest served (or the config's pin)
    retries: int = 2  # attempts after the first, per stage of a video
    retry_backoff_s: float = 0.5  # doubled after each attempt
    encoders: int = 1  # encode actors
    encoder_cpus: float = 1.0  # CPUs each actor reserves
    encoder_gpus: float = 0.0  # GPUs each actor reserves (1 on a GPU worker group)
    decode_cpus: float = 1.0  # CPUs a decode task reserves (its sandbox child runs on it)
    encode_batch: int = 4  # videos an actor gets at once
    write_batch: int = 16  # videos the driver takes from the stream at once


def _permanent(exc: BaseException) -> bool:
    """Errors that a retry cannot fix: a file that is not a usable video (a decode timeout
    may pass on a quieter node), a missing file, a model version not served, a duplicate."""
    if isinstance(exc, MediaError):
        return not isinstance(exc, DecodeTimeoutError)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.EISDIR, errno.EACCES):
        return True
    return isinstance(exc, ModelNotFoundError | DuplicateContentError)


def _message(exc: BaseException) -> str:
    text = exc.naming("the file") if isinstance(exc, MediaError) else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def retried(work: Callable[[], object], options: BackfillOptions,
            what: str) -> tuple[Exception | None, int]:  # fmt: skip
    """Run ``work``, again after a transient error (at most ``options.retries`` times, the
    wait doubling): (the error it failed with for good, or None; the retries made)."""
    for tries in range(options.retries + 1):
        try:
            work()
            return None, tries
        except Exception as exc:
            if _permanent(exc) or tries == options.retries:
                return exc, tries
            log.warning("retrying %s: %s", what, _message(exc))
            time.sleep(options.retry_backoff_s * 2**tries)
    raise AssertionError("unreachable")


def attempt(item: Item, stage: str, work: Callable[[], object], options: BackfillOptions,
            *, timed: bool = False) -> bool:  # fmt: skip
    """``retried`` for one stage of ``item``: False when it failed there (recorded in the
    item). ``timed``: the seconds of all attempts are the stage's (else ``work`` times
    itself)."""
    start = time.perf_counter()
    error, retries = retried(work, options, f"{stage} of {item.entry.video_id}")
    item.retries += retries
    if timed:
        item.seconds[stage] = item.seconds.get(stage, 0.0) + time.perf_counter() - start
    if error is not None:
        item.status, item.stage, item.error = FAILED, stage, _message(error)
    return error is None


def _context(item: Item, model_version: int) -> IndexContext:
    entry = item.entry
    return IndexContext(path=entry.path, video_id=entry.video_id, title=entry.title,
                        tags=entry.tags, source=str(entry.path), content_sha256=item.sha256,
                        model_version=model_version)  # fmt: skip


def _run(stages: Sequence[Stage[IndexContext]], ctx: IndexContext, runner: PipelineRunner,
         item: Item) -> None:  # fmt: skip
    """The orchestrator's stages, timed per stage into ``item`` (the runner's timings)."""
    for stage, seconds in runner.run(PIPELINE, stages, ctx).items():
        item.seconds[stage] = item.seconds.get(stage, 0.0) + seconds


def decode(row: dict[str, Any], *, config: VidsearchConfig, frame_size: int,
           current: Mapping[str, str], target: int, options: BackfillOptions) -> dict[str, Any]:
    """Decode task: hash the file, skip it when already current, else decode it sandboxed
    (the orchestrator's decode stage) into frames for the encoders."""
    item: Item = pickle.loads(row["item"])

    def hash_file() -> None:
        item.sha256 = file_sha256(item.entry.path)

    if not attempt(item, "hash", hash_file, options, timed=True):
        return _row(item)
    if current.get(item.entry.video_id) == item.sha256:
        item.status = SKIPPED
        return _row(item)
    ctx = _context(item, target)
    stages = [DecodeStage(FrameDecoder(config.media, frame_size))]
    runner = PipelineRunner(_limiters(config))
    if attempt(item, "decode", lambda: _run(stages, ctx, runner, item), options):
        item.status, item.payload = "decoded", ctx.decoded
    return _row(item)


class Encoder:
    """Encode actor: one inference backend for its life (ONNX Runtime sessions, or a Triton
    gRPC channel), the orchestrator's encode stages over each decoded video."""

    def __init__(self, config: VidsearchConfig, text_search: bool, target: int,
                 options: BackfillOptions, captioning: bool = False,
                 sentence_vectors: bool = False) -> None:  # fmt: skip
        from vidsearch.inference.factory import build_backend

        # the same stages as the server's indexing: captions too when the server writes them
        self._models = IndexModels.build(config, build_backend(config.inference),
                                         text_search=text_search, captioning=captioning,
                                         sentence_vectors=sentence_vectors)  # fmt: skip
        if text_search:
            self._models.text.warm_up()
        self._runner = PipelineRunner(_limiters(config))
        self._target, self._options = target, options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[bytes]]:
        out = []
        for blob in batch["item"]:
            item: Item = pickle.loads(blob)
            if item.status == "decoded":
                self._encode(item)
            out.append(pickle.dumps(item, protocol=5))
        return {"item": out}

    def _encode(self, item: Item) -> None:
        ctx = _context(item, self._target)
        ctx.decoded, item.payload = cast(DecodedFrames, item.payload), None
        stages = self._models.encode_stages()
        if attempt(item, "encode", lambda: _run(stages, ctx, self._runner, item), self._options):
            item.status, item.payload = "encoded", (ctx.encoded, ctx.text, ctx.tag_feature,
                                                    ctx.caption)  # fmt: skip


def _limiters(config: VidsearchConfig) -> StageLimiters:
    """A worker runs one video at a time: the limits never bind (Ray's resources do)."""
    return StageLimiters(config.server.stage_limits)


def _row(item: Item) -> dict[str, Any]:
    return {"item": pickle.dumps(item, protocol=5)}


def current_videos(orchestrator: Orchestrator, target: int,
                   text_target: int | None) -> dict[str, str]:  # fmt: skip
    """{video id: content SHA-256} of the videos indexed with the current versions (the
    captioner's included: a video captioned by another version is not current)."""
    caption_target = orchestrator.caption_target()
    return {info.video_id: info.content_sha256 for info in orchestrator.videos()
            if is_current(info, target, text_target, caption_target) and info.content_sha256}


def reindex_entries(orchestrator: Orchestrator, model_version: int | None = None,
                    ) -> tuple[list[ManifestEntry], list[str]]:  # fmt: skip
    """(the catalog's videos to re-index from their recorded source, ids without a readable
    source): ``vidsearch reindex``'s plan, for the same pipeline as a manifest."""
    target, text_target = orchestrator.index_targets(model_version)
    plan, todo = plan_reindex(orchestrator.videos(), target, text_target=text_target,
                              caption_target=orchestrator.caption_target())
    entries = [ManifestEntry(info.video_id, Path(info.source), info.title, info.tags)
               for info in todo]
    return entries, plan.missing_source


def store(orchestrator: Orchestrator, items: Sequence[Item], target: int,
          options: BackfillOptions) -> None:  # fmt: skip
    """Write encoded videos in one catalog write through the orchestrator (the batch is
    retried as a whole; each video's duplicate check is its own); its seconds are shared."""
    contexts = []
    for item in items:
        ctx = _context(item, target)
        ctx.encoded, ctx.text, ctx.tag_feature, ctx.caption = cast(Encoded, item.payload)
        contexts.append(ctx)
        item.payload = None
    results: list[Any] = []
    start = time.perf_counter()
    error, retries = retried(lambda: results.extend(orchestrator.store_encoded(contexts)),
                             options, f"catalog write of {len(items)} videos")
    items[0].retries += retries
    share = (time.perf_counter() - start) / len(items)
    for item, result in zip(items, results if error is None else [error] * len(items),
                            strict=True):  # fmt: skip
        item.seconds["catalog_upsert"] = share
        if isinstance(result, Exception):
            item.status, item.stage, item.error = FAILED, "catalog_upsert", _message(result)
        else:
            item.status = INDEXED


def run_backfill(
    orchestrator: Orchestrator,
    config: VidsearchConfig,
    entries: Sequence[ManifestEntry],
    options: BackfillOptions,
    *,
    missing: Sequence[str] = (),
    on_item: Callable[[Item], None] = lambda item: None,
) -> BackfillReport:
    """Index ``entries`` on the running Ray (``ray.init`` first); the report of the run.
    ``missing``: ids of catalog videos with no readable source, reported as failures."""
    import ray

    target, text_target = orchestrator.index_targets(options.model_version)
    report = BackfillReport(model_version=target)
    for video_id in missing:
        report.add(Item(ManifestEntry(video_id, Path()), status=FAILED, stage="source",
                        error="no readable source was recorded: upload the video again"))
    if not entries:
        return report.finish()
    current = current_videos(orchestrator, target, text_target)
    frame_size = orchestrator.models.encoder.frame_size()
    models = orchestrator.models
    encoder_args = (config, models.text_search, target, options, models.captioning,
                    models.sentence_vectors)  # fmt: skip
    items = [{"item": pickle.dumps(Item(entry))} for entry in entries]
    kwargs = {"config": config, "frame_size": frame_size, "current": current, "target": target,
              "options": options}
    data = (
        ray.data.from_items(items, override_num_blocks=min(len(items), MAX_BLOCKS))
        # A decode task reserves what its sandboxed decoder may use: a CPU and the sandbox's
        # memory cap (so a node runs no more decoders than its memory holds).
        .map(decode, fn_kwargs=kwargs,  # type: ignore[arg-type]  # the kwargs fill the rest
             num_cpus=options.decode_cpus, memory=config.media.sandbox_memory_bytes)
        .map_batches(Encoder, fn_constructor_args=encoder_args,
                     batch_size=options.encode_batch, batch_format="numpy",
                     compute=ray.data.ActorPoolStrategy(size=options.encoders),
                     num_cpus=options.encoder_cpus, num_gpus=options.encoder_gpus)
    )
    for batch in data.iter_batches(batch_size=options.write_batch, batch_format="numpy"):
        arrived: list[Item] = [pickle.loads(blob) for blob in batch["item"]]
        encoded = [item for item in arrived if item.status == "encoded"]
        if encoded:
            store(orchestrator, encoded, target, options)
        for item in arrived:
            report.add(item)
            on_item(item)
    return report.finish()
