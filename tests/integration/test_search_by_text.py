"""SearchByText (text search) end to end: the real server on loopback with the exported text
models (ONNX Runtime) and Qdrant Edge, driven through the SDK; the served stage 2 scores
are checked against the PyTorch model computing the same thing from the same frames."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from prometheus_client.parser import text_string_to_metric_families
from vidsearch_client import VideoSearchClient
from vidsearch_client.errors import FailedPrecondition, InvalidArgument, NotFound

from vidsearch.config import MediaConfig
from vidsearch.media.corpus import BenchmarkManifest
from vidsearch.networks.keywords import normalise_keyword
from vidsearch.orchestrator.encoding import FrameDecoder

STARTER = Path(__file__).resolve().parents[2] / "models" / "starter"
QUERY = "a red circle moves to the left over a striped background"


@pytest.fixture(scope="module")
def client(text_server: Any, corpus: BenchmarkManifest) -> VideoSearchClient:
    client = VideoSearchClient(text_server.target, timeout=120)
    for ref in corpus.references[:12]:
        client.index_file(Path(ref.path), ref.video_id)
    return client


def test_search_by_text_returns_both_stages(client: VideoSearchClient,
                                            corpus: BenchmarkManifest) -> None:
    result = client.search_text(QUERY, top_k=8, candidates=5)
    indexed = {ref.video_id for ref in corpus.references[:12]}
    ids = [h.video.video_id for h in result.hits]
    assert len(ids) == 8 and len(set(ids)) == 8 and set(ids) <= indexed
    assert {"text_encode", "embedding_shortlist", "text_rerank"} <= set(result.stage_seconds)
    words = set(normalise_keyword(QUERY).split())  # keywords come from the query, normalised
    assert result.keywords and all(set(k.split()) <= words for k in result.keywords)
    rescored = [h for h in result.hits if h.text is not None and h.text.rescored]
    assert [h.video.video_id for h in rescored] == ids[:5]  # stage 2 ranks its shortlist
    for hit in rescored:
        assert hit.text is not None
        assert hit.score == pytest.approx(hit.text.fine + hit.text.coarse, abs=1e-5)
    assert [h.score for h in rescored] == sorted((h.score for h in rescored), reverse=True)
    rest = [h.text.embedding_similarity for h in result.hits[5:] if h.text is not None]
    assert rest == sorted(rest, reverse=True) and len(rest) == 3  # stage 1 order below

    stage1 = client.search_text(QUERY, top_k=8, rerank=False)
    sims = [h.text.embedding_similarity for h in stage1.hits if h.text is not None]
    assert sims == sorted(sims, reverse=True) and "text_rerank" not in stage1.stage_seconds
    assert set(h.video.video_id for h in stage1.hits[:5]) == set(ids[:5])  # same shortlist


def test_served_scores_match_the_pytorch_model(client: VideoSearchClient,
                                               corpus: BenchmarkManifest) -> None:
    from vidsearch.media.transforms import resize
    from vidsearch.networks.keywords import KeywordExtractor
    from vidsearch.networks.text_encoder import load_tokenizer, tokenize, tokenize_keywords
    from vidsearch.training.checkpoint import load_checkpoint
    from vidsearch.training.text_video import load_text_video

    result = client.search_text(QUERY, top_k=3, candidates=3)
    model = load_text_video(STARTER / "text_video.pt")
    cfg = model.cfg
    tokenizer = load_tokenizer()
    ids, mask = tokenize(tokenizer, [QUERY], 64)
    keywords = KeywordExtractor(cfg.keywords, cfg.keyword_words)(QUERY)
    assert tuple(keywords) == result.keywords  # served encoder + KeyBERT == PyTorch's
    kid, ktm, kmask = tokenize_keywords(tokenizer, [keywords], cfg.keywords)
    paths = {ref.video_id: Path(ref.path) for ref in corpus.references}
    # as served: frames decoded at the copy descriptor's input size, resized for the text model
    served = load_checkpoint(STARTER / "video_hash.pt").config["model"]["backbone"]["input_size"]
    decoder = FrameDecoder(MediaConfig(sandbox=False), served)
    size = model.video.encoder.input_size
    assert model.text_encoder is not None
    with torch.no_grad():
        tokens, text = model.text_encoder(ids, mask)
        kw = model.text_encoder.encode_keywords(kid, ktm)
        for hit in result.hits:
            decoded = decoder(paths[hit.video.video_id]).frames
            frames = torch.from_numpy(resize(decoded, size, size))[None]
            emb, local, f = model.video(frames)
            score, fine, coarse = model.scorer(tokens, mask.float(), text, kw, kmask.float(),
                                               local, f)
            sim = float(model.scorer.text.embedding(text)[0] @ emb[0])
            assert hit.text is not None
            assert hit.text.embedding_similarity == pytest.approx(sim, abs=2e-3)
            # Stage 2 features are stored as float16: agreement to ~1e-2, not bit for bit.
            assert hit.text.fine == pytest.approx(float(fine), abs=1e-2)
            assert hit.text.coarse == pytest.approx(float(coarse), abs=1e-2)
            assert hit.score == pytest.approx(float(score), abs=2e-2)


def test_keyword_enhancement_switch_changes_stage2_only(client: VideoSearchClient) -> None:
    on = client.search_text(QUERY, top_k=4, candidates=4)
    off = client.search_text(QUERY, top_k=4, candidates=4, keyword_enhancement=False)
    assert off.keywords == () and on.keywords
    sims_on = {h.video.video_id: h.text.embedding_similarity for h in on.hits if h.text}
    sims_off = {h.video.video_id: h.text.embedding_similarity for h in off.hits if h.text}
    assert sims_on == pytest.approx(sims_off)  # stage 1 does not use keywords


def test_keywords_change_the_fine_score(client: VideoSearchClient) -> None:
    """The fine score is the part of stage 2 that reads the keywords. (A release whose
    adaptive frame weights trained to exactly 0 had a fine score of 0 for every video; the
    weights now have a floor, ``weight_floor``.)"""
    on = client.search_text(QUERY, top_k=4, candidates=4)
    off = client.search_text(QUERY, top_k=4, candidates=4, keyword_enhancement=False)
    fine_on = {h.video.video_id: h.text.fine for h in on.hits if h.text}
    fine_off = {h.video.video_id: h.text.fine for h in off.hits if h.text}
    assert any(abs(fine_on[v] - fine_off[v]) > 1e-4 for v in fine_on)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"text": "   "}, InvalidArgument, "at least one word"),
        ({"text": "red\x00circle"}, InvalidArgument, "control characters"),
        ({"text": "x" * 1001}, InvalidArgument, "at most 1000"),
        ({"text": "red", "top_k": 0}, InvalidArgument, "top_k"),
        ({"text": "red", "candidates": 5000}, InvalidArgument, "candidates"),
        ({"text": "red", "model_version": 99}, NotFound, "not served"),
    ],
)
def test_bad_text_requests_get_clear_errors(client: VideoSearchClient, kwargs: dict[str, Any],
                                            error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        client.search_text(**kwargs)
    assert client.search_text("blue square", top_k=1).hits  # still serving


def test_deleted_video_leaves_text_results(client: VideoSearchClient) -> None:
    first = client.search_text(QUERY, top_k=1, rerank=False).hits[0].video.video_id
    assert client.delete(first)
    after = client.search_text(QUERY, top_k=12, rerank=False)
    assert first not in {h.video.video_id for h in after.hits}


def test_index_and_text_stages_are_in_the_metrics(client: VideoSearchClient,
                                                  text_server: Any) -> None:
    """Both pipelines run through the one runner: each stage's latency is observed."""
    client.search_text(QUERY, top_k=2)
    url = f"http://127.0.0.1:{text_server.running.metrics_port}/metrics"
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    stages: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if (sample.name == "vidsearch_stage_seconds_count"
                    and sample.labels.get("pipeline") in ("search_text", "index")):
                stages[sample.labels["pipeline"], sample.labels["stage"]] = sample.value
    assert {("search_text", s) for s in ("text_encode", "embedding_shortlist", "text_rerank")} \
        | {("index", s) for s in ("decode", "encode", "text_encode", "catalog_upsert")} \
        <= set(stages)
    assert all(count >= 1 for count in stages.values())


def test_server_without_text_models_says_how_to_get_them(live_server: Any) -> None:
    plain = VideoSearchClient(live_server.target, timeout=60)
    with pytest.raises(FailedPrecondition, match="export"):
        plain.search_text(QUERY)
    stats = plain.stats()
    assert (stats.text_search, stats.text_model_version) == (False, 0)


def test_stats_say_text_search_is_served(client: VideoSearchClient) -> None:
    stats = client.stats()
    assert (stats.text_search, stats.text_model_version) == (True, 1)


def test_embedding_similarity_is_a_cosine(client: VideoSearchClient) -> None:
    sims = np.array([h.text.embedding_similarity for h in
                     client.search_text(QUERY, top_k=5, rerank=False).hits if h.text])
    assert np.all(np.abs(sims) <= 1.0 + 1e-5)
