"""Tags (seed 004) end to end: the real server on loopback (ONNX Runtime, Qdrant Edge),
called through raw gRPC stubs; the tag models are the text-model placeholder, except in
the last test, which serves the trained tag models (what `make export` writes)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from vidsearch_client import AsyncVideoSearchClient, VideoSearchClient
from vidsearch_client.v1 import vidsearch_pb2 as pb
from vidsearch_client.v1 import vidsearch_pb2_grpc as pb_grpc

from benchmarks.tag_suggest import brute_force
from vidsearch.cli import main as cli_main
from vidsearch.media.corpus import BenchmarkManifest
from vidsearch.metrics import REGISTRY
from vidsearch.orchestrator.tags import PLACEHOLDER_BASE

STARTER = Path(__file__).resolve().parents[2] / "models" / "starter"

VOCABULARY = ["red circle", "blue square", "green triangle", "striped background",
              "moving left", "static scene", "yellow star", "fast motion"]


@pytest.fixture(scope="module")
def indexed(text_server: Any, corpus: BenchmarkManifest) -> list[str]:
    client = VideoSearchClient(text_server.target, timeout=120)
    ids = [ref.video_id for ref in corpus.references[:4]]
    for ref in corpus.references[:4]:
        client.index_file(Path(ref.path), ref.video_id)
    return ids


@pytest.fixture(scope="module")
def stub(text_server: Any, indexed: list[str]) -> Iterator[pb_grpc.VideoSearchStub]:
    with grpc.insecure_channel(text_server.target) as channel:
        yield pb_grpc.VideoSearchStub(channel)


def suggest(stub: pb_grpc.VideoSearchStub, video_id: str, **options: Any) -> Any:
    header = pb.SuggestTagsHeader(video_id=video_id, options=pb.TagOptions(**options))
    return stub.SuggestTags(iter([pb.SuggestTagsRequest(header=header)]), timeout=60)


def status_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_a_new_tag_is_suggested_by_the_next_request_and_a_deleted_one_never(
    stub: pb_grpc.VideoSearchStub, indexed: list[str]
) -> None:
    added = stub.UpsertTags(pb.UpsertTagsRequest(tags=VOCABULARY, source="test"), timeout=60)
    assert added.added == len(VOCABULARY)
    assert all(t.model_version >= PLACEHOLDER_BASE for t in added.tags)
    video = indexed[0]
    before = suggest(stub, video, top_k=len(VOCABULARY))
    assert [s.tag.text for s in before.tags] and before.tag_model_version >= PLACEHOLDER_BASE
    assert {"stored_tag_feature", "nearest_tags"} <= set(before.stage_seconds)
    distances = [s.distance for s in before.tags]
    assert distances == sorted(distances) and sorted(s.tag.text for s in before.tags) == sorted(
        VOCABULARY)
    # A hot topic: the title of nothing, but give it the best tag's exact wording + more.
    hot = "hot topic " + before.tags[0].tag.text
    stub.UpsertTags(pb.UpsertTagsRequest(tags=[hot]), timeout=60)
    after = suggest(stub, video, top_k=len(VOCABULARY) + 1)
    assert hot in [s.tag.text for s in after.tags]  # no restart, no retraining
    # max_distance keeps exactly the tags that near, nearest first (whether the hot tag is
    # nearer than the one it extends is the text model's business, not the filter's)
    limit = before.tags[0].distance + 1e-4
    within = suggest(stub, video, top_k=100, max_distance=limit)
    expected = [s.tag.text for s in after.tags if s.distance <= limit]
    assert [s.tag.text for s in within.tags] == expected
    assert before.tags[0].tag.text in expected and len(expected) < len(after.tags)
    gone = stub.DeleteTags(pb.DeleteTagsRequest(tags=[hot, "never added"]), timeout=60)
    assert gone.deleted == 1 and list(gone.missing) == ["never added"]
    for _ in range(3):
        again = suggest(stub, video, top_k=100)
        assert hot not in [s.tag.text for s in again.tags]


def test_suggestions_for_an_upload_match_the_indexed_video(
    stub: pb_grpc.VideoSearchStub, indexed: list[str], corpus: BenchmarkManifest
) -> None:
    stub.UpsertTags(pb.UpsertTagsRequest(tags=VOCABULARY), timeout=60)
    ref = corpus.references[1]
    header = pb.SuggestTagsHeader(media=pb.MediaSource(source_uri=str(ref.path)),
                                  options=pb.TagOptions(top_k=3))
    uploaded = stub.SuggestTags(iter([pb.SuggestTagsRequest(header=header)]), timeout=120)
    stored = suggest(stub, ref.video_id, top_k=3)
    assert [s.tag.text for s in uploaded.tags] == [s.tag.text for s in stored.tags]
    assert np.allclose([s.distance for s in uploaded.tags], [s.distance for s in stored.tags],
                       atol=1e-4)
    assert "decode" in uploaded.stage_seconds


def test_bad_input_gets_an_actionable_status(stub: pb_grpc.VideoSearchStub) -> None:
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    cases = {
        "empty": lambda: stub.UpsertTags(pb.UpsertTagsRequest(tags=[""]), timeout=30),
        "long": lambda: stub.UpsertTags(pb.UpsertTagsRequest(tags=["x" * 10_000]), timeout=30),
        "twice": lambda: stub.UpsertTags(pb.UpsertTagsRequest(tags=["a b", "a b"]), timeout=30),
        "page": lambda: stub.ListTags(pb.ListTagsRequest(page_size=0), timeout=30),
        "huge page": lambda: stub.ListTags(pb.ListTagsRequest(page_size=5000), timeout=30),
        "token": lambda: stub.ListTags(pb.ListTagsRequest(page_token="zz"), timeout=30),
        "distance": lambda: suggest(stub, "anything", max_distance=3.0),
    }
    for name, call in cases.items():
        code, message = status_of(call)
        assert code == invalid, (name, code, message)
        assert "/tmp" not in message and "Traceback" not in message, (name, message)
    assert "empty" in status_of(cases["empty"])[1]
    assert "10000 characters" in status_of(cases["long"])[1]
    assert "more than once" in status_of(cases["twice"])[1]
    assert "between 1 and 1000" in status_of(cases["page"])[1]
    code, message = status_of(lambda: suggest(stub, "no-such-video"))
    assert code == grpc.StatusCode.NOT_FOUND and "no-such-video" in message
    assert "upload" in message


def test_list_tags_pages_through_the_library(stub: pb_grpc.VideoSearchStub) -> None:
    stub.UpsertTags(pb.UpsertTagsRequest(tags=VOCABULARY), timeout=60)
    total = len(stub.ListTags(pb.ListTagsRequest(page_size=1000), timeout=30).tags)
    seen: list[str] = []
    token, pages = "", 0
    while True:
        page = stub.ListTags(pb.ListTagsRequest(page_size=3, page_token=token), timeout=30)
        seen += [t.text for t in page.tags]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == total >= len(VOCABULARY)
    assert pages == -(-total // 3) or pages == -(-total // 3) + 1


def test_one_request_may_hold_more_tags_than_an_encoder_batch(
    stub: pb_grpc.VideoSearchStub,
) -> None:
    """300 tags in one UpsertTags (encoders take at most 64 or 256 per call)."""
    texts = [f"batch tag {i}" for i in range(300)]
    reply = stub.UpsertTags(pb.UpsertTagsRequest(tags=texts), timeout=120)
    assert reply.added == 300 and len(reply.tags) == 300
    listed = {t.text for t in stub.ListTags(pb.ListTagsRequest(page_size=1000), timeout=30).tags}
    assert set(texts) <= listed
    stub.DeleteTags(pb.DeleteTagsRequest(tags=texts), timeout=60)


def test_tag_videos_resumes_where_it_stopped(
    stub: pb_grpc.VideoSearchStub, indexed: list[str]
) -> None:
    stub.UpsertTags(pb.UpsertTagsRequest(tags=VOCABULARY), timeout=60)
    first = stub.TagVideos(pb.TagVideosRequest(max_videos=2, options=pb.TagOptions(top_k=2)),
                           timeout=120)
    assert len(first.videos) == 2 and first.untagged_left == len(indexed) - 2
    second = stub.TagVideos(pb.TagVideosRequest(max_videos=100, options=pb.TagOptions(top_k=2)),
                            timeout=120)
    done = {v.video_id for v in first.videos} | {v.video_id for v in second.videos}
    assert done == set(indexed) and second.untagged_left == 0
    assert not {v.video_id for v in first.videos} & {v.video_id for v in second.videos}
    third = stub.TagVideos(pb.TagVideosRequest(), timeout=60)
    assert not third.videos and third.untagged_left == 0
    video = first.videos[0]
    got = stub.GetVideo(pb.GetVideoRequest(video_id=video.video_id), timeout=30)
    assert list(got.video.tags) == list(video.tags) and len(video.tags) == 2
    found = stub.FindVideosByTag(pb.FindVideosByTagRequest(tag=video.tags[0]), timeout=30)
    assert video.video_id in [v.video_id for v in found.videos]


def test_the_sdk_and_the_cli_speak_tags(
    text_server: Any, indexed: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    client = VideoSearchClient(text_server.target, timeout=120)
    client.add_tags(VOCABULARY)
    assert client.add_tags(["sdk only tag"], source="sdk") == 1
    found = client.suggest_tags(indexed[2], top_k=100)
    assert "sdk only tag" in [s.tag.text for s in found.tags]

    async def from_async() -> tuple[list[str], list[str]]:
        async with AsyncVideoSearchClient(text_server.target, timeout=120) as aio:
            suggested = await aio.suggest_tags(indexed[2], top_k=100)
            missing = await aio.delete_tags(["sdk only tag", "not there"])
            return [s.tag.text for s in suggested.tags], missing

    texts, missing = asyncio.run(from_async())
    assert texts == [s.tag.text for s in found.tags] and missing == ["not there"]
    assert "sdk only tag" not in [s.tag.text for s in client.suggest_tags(indexed[2]).tags]

    target = ["--target", text_server.target, "--json"]
    assert cli_main(["tags", "add", "cli tag", *target]) == 0
    assert json.loads(capsys.readouterr().out) == {"added": 1, "replaced": 0}
    assert cli_main(["tags", "suggest", indexed[2], "--top-k", "100", *target]) == 0
    suggested = json.loads(capsys.readouterr().out)
    assert "cli tag" in [s["tag"]["text"] for s in suggested["tags"]]
    assert cli_main(["tags", "ls", "--page-size", "1000", *target]) == 0
    assert "cli tag" in [t["text"] for t in json.loads(capsys.readouterr().out)["tags"]]
    assert cli_main(["tags", "rm", "cli tag", *target]) == 0
    assert json.loads(capsys.readouterr().out) == {"deleted": 1, "missing": []}
    # Every tag stage was timed into the stage histogram, like the other pipelines.
    for pipeline, stage in (("suggest_tags", "stored_tag_feature"),
                            ("suggest_tags", "nearest_tags"), ("upsert_tags", "tag_encode"),
                            ("upsert_tags", "tag_write"), ("index", "tag_feature")):
        count = REGISTRY.get_sample_value("vidsearch_stage_seconds_count",
                                          {"pipeline": pipeline, "stage": stage})
        assert count and count > 0, (pipeline, stage)


def test_suggest_tags_with_ten_thousand_tags_against_numpy(
    text_server: Any, stub: pb_grpc.VideoSearchStub, indexed: list[str]
) -> None:
    """p95 of SuggestTags by id through gRPC with 10,000 tags, beside a numpy brute force
    over the same vectors in the same run (printed; the bound is loose on 2 shared cores)."""
    tags = text_server.orchestrator.tags
    library = tags.library()
    version = tags.models.version()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(10_000, library.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    from vidsearch.catalog.tags import TagVector

    for start in range(0, len(vectors), 1000):
        library.upsert([TagVector(f"synthetic {i}", vectors[i], version)
                        for i in range(start, start + 1000)])
    feature = tags.stored_feature(indexed[0]).vector
    served, brute = [], []
    for _ in range(30):
        start = time.perf_counter()
        suggest(stub, indexed[0], top_k=10)
        served.append(time.perf_counter() - start)
        start = time.perf_counter()
        brute_force(vectors, feature, 10)
        brute.append(time.perf_counter() - start)
    p95, p95_numpy = np.percentile(served, 95), np.percentile(brute, 95)
    print(f"SuggestTags p95 {p95 * 1e3:.1f} ms; numpy brute force p95 "
          f"{p95_numpy * 1e3:.2f} ms; ratio {p95 / p95_numpy:.1f}")
    assert p95 < 0.5  # the 20 ms target is for the benchmark machine, not a shared CI core


def test_the_trained_tag_models_serve_when_exported(
    release_server: Any, corpus: BenchmarkManifest
) -> None:
    """With everything `make export` writes, suggestions come from the trained tag models
    (not the placeholder); a tag added is suggested by the next request, a deleted one
    never again."""
    client = VideoSearchClient(release_server.target, timeout=120)
    ref = corpus.references[0]
    client.index_file(Path(ref.path), ref.video_id)
    served = release_server.orchestrator.tags.models.version()
    assert served < PLACEHOLDER_BASE
    with grpc.insecure_channel(release_server.target) as channel:
        stub = pb_grpc.VideoSearchStub(channel)
        added = stub.UpsertTags(pb.UpsertTagsRequest(tags=VOCABULARY), timeout=60)
        assert {t.model_version for t in added.tags} == {served}
        before = suggest(stub, ref.video_id, top_k=len(VOCABULARY))
        assert before.tag_model_version == served
        assert sorted(s.tag.text for s in before.tags) == sorted(VOCABULARY)
        # The served space is the trained one: the stored video feature and the ranking
        # are what PyTorch computes from the checkpoint on the same decoded frames.
        stored = release_server.orchestrator.tags.stored_feature(ref.video_id).vector
        expected = _torch_tag_ranking(Path(ref.path), VOCABULARY)
        assert float(stored @ expected[0]) > 0.999
        assert [s.tag.text for s in before.tags] == expected[1]
        stub.UpsertTags(pb.UpsertTagsRequest(tags=["crimson donut"]), timeout=60)
        after = suggest(stub, ref.video_id, top_k=len(VOCABULARY) + 1)
        assert "crimson donut" in [s.tag.text for s in after.tags]
        stub.DeleteTags(pb.DeleteTagsRequest(tags=["crimson donut"]), timeout=60)
        again = suggest(stub, ref.video_id, top_k=100)
        assert "crimson donut" not in [s.tag.text for s in again.tags]
        # Words the tag model never trained on are embedded as trained ones (WordNet):
        # "crimson disc" is where "red disk" is, and keeps the text it was written with.
        stub.UpsertTags(pb.UpsertTagsRequest(tags=["crimson disc", "red disk"]), timeout=60)
        hits = {s.tag.text: s.distance for s in suggest(stub, ref.video_id, top_k=100).tags}
        assert hits["crimson disc"] == pytest.approx(hits["red disk"], abs=1e-6)


def _torch_tag_ranking(path: Path, tags: list[str]) -> tuple[np.ndarray, list[str]]:
    """The checkpoint's unit video feature (frames as the server decodes them) and ``tags``
    ranked nearest first, in PyTorch."""
    import torch

    from vidsearch.config import MediaConfig, TagsConfig
    from vidsearch.contract.tag_scoring import scene_aware_similarity
    from vidsearch.evaluation.tags import served_wording
    from vidsearch.media.transforms import resize
    from vidsearch.networks.text_encoder import load_tokenizer, tokenize
    from vidsearch.orchestrator.encoding import FrameDecoder
    from vidsearch.orchestrator.text_search import uniform_subsample
    from vidsearch.training.tag_training import load_tag_model

    model = load_tag_model(STARTER / "tags.pt")
    size = model.semantic.input_size
    frames = FrameDecoder(MediaConfig(sandbox=False), size)(path).frames
    frames = resize(frames[uniform_subsample(len(frames), 32)], size, size)
    # as the server embeds them: unseen words rewritten to training tags (tags.thesaurus)
    rewrite = served_wording(TagsConfig().thesaurus)
    assert rewrite is not None
    ids, mask = tokenize(load_tokenizer(), [rewrite(t) for t in tags])
    with torch.no_grad():
        video, scenes = model.video_tag_encoder()(torch.from_numpy(frames)[None])
        library = torch.nn.functional.normalize(model.tag_encoder()(ids, mask), dim=1)
    video = torch.nn.functional.normalize(video[0], dim=0)
    scenes = torch.nn.functional.normalize(scenes[0], dim=1)
    sim = scene_aware_similarity((library @ video).numpy(), (scenes @ library.T).numpy(),
                                 TagsConfig().scene_weight)  # the server's default
    return video.numpy(), [tags[i] for i in np.argsort(-sim, kind="stable").tolist()]
