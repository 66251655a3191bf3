"""The review page in a real browser (Debian's chromium via chromedriver and selenium),
in front of the real server (starter models, ONNX Runtime, Qdrant Edge) with bearer
tokens on, the way a reviewer uses it: paste a token, upload a copy of an indexed video,
read the hit list, look at both videos side by side, click the segment marks.

Screenshots are written under the test's tmp dir (printed; `-s` shows where).
Needs `make browser` (chromium + chromium-driver); skipped with the reason otherwise.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from vidsearch_client import SearchHit, SearchResult, VideoSearchClient

from tests.integration.conftest import LiveServer, make_config
from vidsearch.media.corpus import PROCEDURAL_ONLY, BenchmarkManifest, build_copy_benchmark
from vidsearch.review.app import ReviewSettings
from vidsearch.review.server import RunningReview, start_review
from vidsearch.service.auth import token_digest

webdriver = pytest.importorskip("selenium.webdriver")
TOKEN = "review-page-test-token"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian chromium + chromium-driver: make browser"
)
# What the page must paint (seed 001 [0023]): computed colours of the bar's layers.
BLACK, WHITE, GREY = "rgb(0, 0, 0)", "rgb(255, 255, 255)", "rgb(128, 128, 128)"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> BenchmarkManifest:
    """Four references; the queries are stretches of one embedded in unrelated footage,
    so the matched segments sit inside both timelines, not at their ends."""
    return build_copy_benchmark(
        tmp_path_factory.mktemp("review-corpus"), n_references=4, n_queries=2,
        positive_ratio=1.0, seed=3, ref_duration_s=(10.0, 14.0), segment_s=(4.0, 7.0),
        chain_length=(1, 1), progress=False, sources=PROCEDURAL_ONLY, vary_encoding=False,
        hard_negative_ratio=0.0, families=("embed",),
    )


@pytest.fixture(scope="module")
def server(
    starter_repository: Path, corpus: BenchmarkManifest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The real server with tokens on and uploads kept for playback; three references
    indexed by upload, the last from a source_uri whose file is then removed."""
    root = tmp_path_factory.mktemp("review-server")
    config = make_config(starter_repository, root / "catalog")
    config.media.sandbox = False
    config.playback.keep_uploads_s = 600
    config.playback.kept_uploads_dir = root / "kept"
    tokens = root / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": {token_digest(TOKEN): {"scopes": ["admin"]}}}))
    config.server.auth_tokens_file = tokens
    live = LiveServer(config)
    live.start()
    with VideoSearchClient(live.target, token=TOKEN, timeout=120) as client:
        *uploaded, by_uri = corpus.references
        for ref in uploaded:
            client.index_file(Path(ref.path), ref.video_id, title=f"reference {ref.video_id}",
                              tags=["sample"])
        gone = root / "gone" / Path(ref.path).name
        gone.parent.mkdir()
        shutil.copyfile(by_uri.path, gone)
        client.index_uri(str(gone), by_uri.video_id)
        gone.unlink()  # the server no longer has this one's source
    yield live
    live.stop()


@pytest.fixture(scope="module")
def page(server: LiveServer) -> Iterator[RunningReview]:
    settings = ReviewSettings(target=server.target,
                              max_upload_bytes=server.config.media.max_upload_bytes)
    running = start_review(settings, port=0)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="review-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                 "--window-size=1280,1100", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console, for failures
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: Any, check: Callable[[], Any], what: str, timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; the page shows {page_state(driver)}")


def page_state(driver: Any) -> dict[str, Any]:
    """What a person would see when a wait times out, and the browser's console."""
    state = dict(js(driver, """return {
        message: document.getElementById('message').textContent,
        stats: document.getElementById('stats').textContent,
        busy: document.body.dataset.busy || '',
        hits: document.querySelectorAll('#hits > li').length};"""))
    state["console"] = [entry.get("message") for entry in driver.get_log("browser")][-10:]
    return state


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def message(driver: Any) -> str:
    return str(js(driver, "return document.getElementById('message').textContent"))


def sign_in(driver: Any, token: str) -> None:
    field = driver.find_element("id", "token")
    field.clear()
    field.send_keys(token)
    js(driver, "document.getElementById('token').dispatchEvent(new Event('change'))")


def search_clip(driver: Any, clip: Path, mode: str = "duration") -> None:
    driver.find_element("id", "clip").send_keys(str(clip))
    js(driver, "document.getElementById('mode').value = arguments[0]", mode)
    js(driver, "document.getElementById('hits').replaceChildren()")
    driver.find_element("css selector", "#upload-form button[type=submit]").click()


def bar_layout(driver: Any, side: str) -> dict[str, Any]:
    """Each grey block's left/right as fractions of its bar, and the bar's colours."""
    return dict(js(driver, """
        const bar = document.getElementById(arguments[0] + '-bar');
        const box = bar.getBoundingClientRect();
        const rel = (r) => [(r.left - box.left) / box.width, (r.right - box.left) / box.width];
        return {
          segments: [...bar.querySelectorAll('.segment')].map(
            (s) => rel(s.getBoundingClientRect())),
          segment_colour: [...bar.querySelectorAll('.segment')].map(
            (s) => getComputedStyle(s).backgroundColor),
          bar_colour: getComputedStyle(bar).backgroundColor,
          played_colour: getComputedStyle(bar.querySelector('.played')).backgroundColor,
          played: rel(bar.querySelector('.played').getBoundingClientRect())[1],
          width: box.width,
        };""", side))


def players_ready(driver: Any) -> bool:
    """Both <video>s decoded a frame: chromium plays the H.264 files as they are."""
    return bool(js(driver, """
        return ['query-video', 'reference-video'].every((id) => {
          const v = document.getElementById(id);
          return v.readyState >= 2 && v.videoWidth > 0 && !v.error && !v.seeking;
        });"""))


def current_times(driver: Any) -> tuple[float, float]:
    q, r = js(driver, "return ['query-video', 'reference-video'].map("
                      "(id) => document.getElementById(id).currentTime)")
    return float(q), float(r)


def api_search(server: LiveServer, clip: Path) -> SearchResult:
    with VideoSearchClient(server.target, token=TOKEN, timeout=120) as client:
        return client.search_video(clip, mode="duration", top_k=5)


def test_copy_review_in_a_real_browser(
    browser: Any, page: RunningReview, server: LiveServer, corpus: BenchmarkManifest,
    tmp_path: Path,
) -> None:
    query = corpus.queries[0]
    assert query.positive and query.embedded and query.reference_id
    browser.get(page.url)
    sign_in(browser, "")

    # Without a token the page passes the server's refusal on, in words.
    search_clip(browser, query.path)
    wait_for(browser, lambda: "bearer token" in message(browser), "the missing-token message")
    assert "401" not in message(browser) and "Traceback" not in message(browser)

    sign_in(browser, TOKEN)
    search_clip(browser, query.path)
    first = wait_for(browser, lambda: js(browser, "const li = document.querySelector('#hits > li');"
                                         "return li && li.dataset.videoId"), "the hit list")
    assert first == query.reference_id, message(browser)

    # The API's answer to the same clip: the page shows its hits in order, with reasons.
    expected = api_search(server, query.path)
    shown = js(browser, "return [...document.querySelectorAll('#hits > li')].map("
                        "(li) => li.dataset.videoId)")
    assert shown == [h.video.video_id for h in expected.hits]
    top: SearchHit = expected.hits[0]
    assert top.segments, "a copy this long must come with matched segments"
    reasons = browser.find_element("css selector", "#hits > li .reasons").text
    assert f"repetition {top.repetition:.2f}" in reasons
    assert f"Hamming distance {top.hamming}" in reasons
    assert "sample" in browser.find_element("css selector", "#hits > li .tags").text

    wait_for(browser, lambda: players_ready(browser), "both videos to load and decode")
    # Grey blocks sit where the API's segments are, on both timelines (within a pixel).
    for side, duration in (("query", expected.query_duration_s),
                           ("reference", top.video.duration_s)):
        layout = bar_layout(browser, side)
        pixel = 1.5 / layout["width"]
        assert layout["bar_colour"] == BLACK and layout["played_colour"] == WHITE
        assert layout["segment_colour"] == [GREY] * len(top.segments)
        want = [(getattr(s, f"{side}_start_s") / duration, getattr(s, f"{side}_end_s") / duration)
                for s in top.segments]
        for (left, right), (start, end) in zip(layout["segments"], want, strict=True):
            assert left == pytest.approx(start, abs=pixel)
            assert right == pytest.approx(end, abs=pixel)
    # The embedded copy is found where it was put (ground truth of the generated query).
    lo, hi = query.query_segment or (0.0, 0.0)
    assert any(s.query_start_s < hi and s.query_end_s > lo for s in top.segments)
    browser.save_screenshot(str(tmp_path / "review-loaded.png"))

    # Each mark seeks BOTH players to the segment's aligned times.
    segment = top.segments[0]
    for side, edge in (("reference", "end"), ("query", "start")):
        browser.find_element(
            "css selector", f"#{side}-marks .mark.{edge}[data-index='0']").click()
        want_q = getattr(segment, f"query_{edge}_s")
        want_r = getattr(segment, f"reference_{edge}_s")
        wait_for(browser, lambda: players_ready(browser), "the seek to finish")
        q, r = current_times(browser)
        assert q == pytest.approx(want_q, abs=0.05) and r == pytest.approx(want_r, abs=0.05)
        played = bar_layout(browser, "reference")["played"]
        assert played == pytest.approx(want_r / top.video.duration_s, abs=0.01)

    # Playing moves both playheads: the white part grows.
    before = bar_layout(browser, "query")["played"]
    browser.find_element("id", "play-both").click()
    wait_for(browser, lambda: bar_layout(browser, "query")["played"] > before + 0.02, "playback")
    browser.find_element("id", "pause-both").click()
    browser.save_screenshot(str(tmp_path / "review-after-jump.png"))
    print(f"screenshots: {tmp_path}")


def test_indexed_video_search_and_a_source_the_server_no_longer_has(
    browser: Any, page: RunningReview, corpus: BenchmarkManifest, tmp_path: Path
) -> None:
    browser.get(page.url)
    sign_in(browser, TOKEN)
    kept, gone = corpus.references[0].video_id, corpus.references[-1].video_id

    # The indexed videos are offered as choices (ListVideos through the SDK).
    choices = wait_for(browser, lambda: js(browser, "return [...document.querySelectorAll("
                                           "'#indexed-videos option')].map(o => o.value)"),
                       "the indexed videos to choose from")
    assert {r.video_id for r in corpus.references} <= set(choices)

    # An upload kept for playback is a query too: it finds itself first, and plays.
    browser.find_element("id", "video-id").send_keys(kept)
    browser.find_element("css selector", "#indexed-form button").click()
    first = wait_for(browser, lambda: js(browser, "const li = document.querySelector('#hits > li');"
                                         "return li && li.dataset.videoId"), "the hit list")
    assert first == kept
    wait_for(browser, lambda: players_ready(browser), "both videos to load")

    # A video whose source file is gone: the page says so instead of a broken player.
    browser.find_element("id", "video-id").clear()
    browser.find_element("id", "video-id").send_keys(gone)
    browser.find_element("css selector", "#indexed-form button").click()
    text = wait_for(browser,
                    lambda: "cannot be played back" in message(browser) and message(browser),
                    "the no-source message")
    assert "no longer readable on the server" in text
    assert "/" not in text.replace("s/", ""), f"a server path leaked: {text}"
    browser.save_screenshot(str(tmp_path / "review-no-source.png"))


def test_http_errors_are_plain_sentences(page: RunningReview, server: LiveServer,
                                         corpus: BenchmarkManifest) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=page.url, timeout=120, headers=auth) as http:
        text = http.post("/api/search/upload", content=b"just some words, not a video\n")
        assert text.status_code == 400
        assert "text file" in text.json()["error"]
        unknown = http.post("/api/play/no-such-video")
        assert unknown.status_code == 404 and "not indexed" in unknown.json()["error"]
        gone = http.post(f"/api/play/{corpus.references[-1].video_id}")
        assert gone.status_code == 409
        assert str(server.config.catalog.path.parent) not in gone.text
        bad_mode = http.post("/api/search/upload?mode=fastest", content=b"x")
        assert bad_mode.status_code == 400 and "mode must be one of" in bad_mode.json()["error"]
        denied = httpx.post(f"{page.url}api/play/x", headers={"Authorization": "Bearer nope"})
        assert denied.status_code == 401 and "not valid" in denied.json()["error"]
        assert http.get("/clips/not-a-ticket").status_code == 404
    # The page refuses what the API would refuse, before storing it.
    small = ReviewSettings(target=server.target, max_upload_bytes=10_000)
    tight = start_review(small, port=0)
    try:
        big = httpx.post(f"{tight.url}api/search/upload", content=Path(
            corpus.references[0].path).read_bytes(), headers=auth, timeout=60)
        assert big.status_code == 413 and "10000 bytes" in big.json()["error"]
    finally:
        tight.stop()
