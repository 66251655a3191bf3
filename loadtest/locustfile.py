"""vidsearch load test: a mixed SearchByVideo / SearchByText / IndexVideo / SuggestTags
scenario over gRPC.

    locust -f loadtest/locustfile.py --headless -u 4 -r 2 -t 30s --host 127.0.0.1:50051 \
        --csv var/loadtest/locust

Weights and media come from ``loadtest/scenario.yaml`` (``LOADTEST_WEIGHT_SEARCH=...``
and friends override them). ``loadtest/run_local.sh`` (``make loadtest``) starts a local
server, runs this headless and writes the report into BENCHMARKS.md.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import sys
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from grpc_user import GrpcUser
from locust import between
from scenario import load_scenario

SCENARIO = load_scenario()
QUERIES: list[Path] = SCENARIO.media("queries") if SCENARIO.weight_search else []
INDEXES = SCENARIO.weight_index or SCENARIO.weight_tags  # SuggestTags asks about its own videos
REFERENCES: list[Path] = SCENARIO.media("references") if INDEXES else []
TEXTS: list[str] = SCENARIO.lines("texts") if SCENARIO.weight_text else []
TAGS: list[str] = SCENARIO.lines("tags") if SCENARIO.weight_tags else []


class VideoSearchUser(GrpcUser):
    wait_time = between(SCENARIO.wait_min_s, SCENARIO.wait_max_s)
    client_timeout_s = SCENARIO.timeout_s

    def on_start(self) -> None:
        self.rng = random.Random()
        self.tag = uuid.uuid4().hex[:8]
        self.counter = itertools.count()
        self.indexed: list[str] = []
        if TAGS:  # SuggestTags needs a library (upsert is idempotent; setup, not reported)
            self.client.add_tags(TAGS, source="loadtest")

    def search_by_video(self) -> None:
        query = self.rng.choice(QUERIES)
        self.call(
            "SearchByVideo",
            lambda: self.client.search_video(query, top_k=SCENARIO.top_k),
            size=lambda r: len(r.hits),
        )

    def index_video(self) -> None:
        path = self.rng.choice(REFERENCES)
        video_id = f"{SCENARIO.index_prefix}-{self.tag}-{next(self.counter)}"
        done = self.call(
            "IndexVideo",
            lambda: self.client.index_file(path, video_id, title=path.stem, tags=["loadtest"]),
            size=lambda _: path.stat().st_size,
        )
        if done is not None:
            self.indexed.append(video_id)

    def search_by_text(self) -> None:
        text = self.rng.choice(TEXTS)
        self.call(
            "SearchByText",
            lambda: self.client.search_text(
                text, top_k=SCENARIO.top_k, candidates=SCENARIO.text_candidates
            ),
            size=lambda r: len(r.hits),
        )

    def suggest_tags(self) -> None:
        if not self.indexed:  # a video of its own first (reported: it is an IndexVideo call)
            self.index_video()
        if self.indexed:
            video_id = self.rng.choice(self.indexed)
            self.call(
                "SuggestTags",
                lambda: self.client.suggest_tags(video_id, top_k=SCENARIO.top_k),
                size=lambda r: len(r.tags),
            )

    def on_stop(self) -> None:
        if SCENARIO.cleanup:
            for video_id in self.indexed:  # not reported: setup/teardown, not load
                with contextlib.suppress(Exception):  # best effort: the run is over
                    self.client.delete(video_id)
        super().on_stop()

    tasks = {  # noqa: RUF012 (locust's own attribute)
        task: weight
        for task, weight in (
            (search_by_video, SCENARIO.weight_search),
            (index_video, SCENARIO.weight_index),
            (search_by_text, SCENARIO.weight_text),
            (suggest_tags, SCENARIO.weight_tags),
        )
        if weight > 0
    }
