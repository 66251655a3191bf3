"""The review page's pieces without a browser: clips expire and make room; every score
of a hit is explained. The browser test is tests/integration/test_review_page.py, the
`serve --review-port` wiring tests/service/test_serve_review.py."""

from __future__ import annotations

from vidsearch_client import MatchedSegment, SearchHit, TextMatch, VideoInfo

from vidsearch.review.explain import copy_reasons, text_reasons, video_json
from vidsearch.review.media import MediaStore


def test_clips_expire_and_the_oldest_make_room() -> None:
    now = [0.0]
    store = MediaStore(ttl_s=60, max_bytes=10, clock=lambda: now[0])
    try:
        def clip(size: int) -> str:
            path = store.new_path()
            path.write_bytes(bytes(size))
            return store.add(path, "video/mp4")

        first, second = clip(4), clip(4)
        assert store.get(first) is not None and store.get(second) is not None
        third = clip(4)  # 12 bytes > 10: the oldest goes
        assert store.get(first) is None and store.get(third) is not None
        now[0] += 61
        assert store.get(second) is None and store.get(third) is None
        assert not any(store.new_path().parent.iterdir())
    finally:
        store.close()


def test_every_score_is_explained_and_no_path_leaks() -> None:
    video = VideoInfo("r1", 20.0, 1, 20, title="a film", tags=("sport",),
                      source="/srv/videos/r1.mp4")
    hit = SearchHit(video, score=0.42, hamming=7, texture_distance=0.25, repetition=0.5,
                    segments=(MatchedSegment(1.0, 6.0, 11.0, 16.0, 0.9),))
    duration = copy_reasons(hit, "duration", query_duration_s=10.0)
    assert any("repetition 0.50" in r and "5.0 s of the shorter video (10.0 s)" in r
               for r in duration)
    assert any("Hamming distance 7 of 128" in r for r in duration)
    assert any("texture distance 0.250" in r for r in duration)
    texture = copy_reasons(hit, "texture", query_duration_s=10.0)
    assert "1 / (1 + texture distance 0.250)" in texture[0]
    text_hit = SearchHit(video, score=0.8, text=TextMatch(0.3, True, 0.8, 0.5, 0.3))
    assert "fine 0.500 + coarse 0.300" in text_reasons(text_hit)[0]
    assert "/srv" not in str(video_json(video))
