"""Smoke test of the load test: locust (subprocess, ~5 s) against a real server serving the
starter release with the text models, so every task of the mixed scenario runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "models" / "starter"
LOADTEST = ROOT / "loadtest"
BIN = Path(sys.executable).parent


def _make_report_module():  # loadtest/ is a folder of scripts, not a package
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "loadtest_make_report", LOADTEST / "make_report.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def release_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter release with the text models, exported once for both runs."""
    from vidsearch.evaluation.systems import export_release

    repository = tmp_path_factory.mktemp("release") / "repository"
    export_release([STARTER / n for n in ("video_hash.pt", "barlow.pt", "text_video.pt")],
                   repository)
    return repository


@pytest.mark.timeout(300)
@pytest.mark.parametrize("auth", [False, True], ids=["no-auth", "bearer-token"])
def test_locust_smoke_against_real_server(
    tmp_path: Path, auth: bool, release_repository: Path
) -> None:
    """With auth on, the users send $VIDSEARCH_TOKEN: any call without it would fail."""
    from vidsearch.config import embedded_loopback_config
    from vidsearch.media.synthetic import render_video, write_video
    from vidsearch.orchestrator.factory import build_orchestrator
    from vidsearch.service.server import build_server

    refs, queries = tmp_path / "refs", tmp_path / "queries"
    for seed, folder in ((1, refs), (2, refs), (1, queries)):
        write_video(folder / f"v{seed}.mp4", render_video(seed, 2.0, 8.0, 160, 120), 8.0)
    config = embedded_loopback_config(release_repository, tmp_path)
    token_env: dict[str, str] = {}
    if auth:
        from vidsearch.service.auth import token_digest

        tokens = tmp_path / "tokens.yaml"
        entry = {token_digest("lt-secret"): {"scopes": ["search", "index"], "name": "loadtest"}}
        tokens.write_text(yaml.safe_dump({"tokens": entry}))
        config.server.auth_tokens_file = tokens
        token_env = {"VIDSEARCH_TOKEN": "lt-secret"}
    orchestrator = build_orchestrator(config)
    running = build_server(config, orchestrator)
    try:
        assert running.target.startswith("127.0.0.1:")
        orchestrator.index_video(refs / "v1.mp4", video_id="v1", title="v1", source="")
        # The users upsert loadtest/tags.txt themselves before asking for suggestions.
        env = {
            **{k: v for k, v in os.environ.items() if k != "VIDSEARCH_TOKEN"},
            "LOADTEST_QUERIES": str(queries),
            "LOADTEST_REFERENCES": str(refs),
            "LOADTEST_WEIGHT_SEARCH": "2",
            "LOADTEST_WEIGHT_INDEX": "1",
            "LOADTEST_WEIGHT_TEXT": "2",
            "LOADTEST_WEIGHT_TAGS": "2",  # UpsertTags needs index, SuggestTags search
            "LOADTEST_TEXT_CANDIDATES": "5",
            "LOADTEST_WAIT_MAX_S": "0.2",
            **token_env,
        }
        csv = tmp_path / "locust"
        proc = subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(LOADTEST / "locustfile.py"),
                "--headless",
                "-u",
                "2",
                "-r",
                "2",
                "-t",
                "5s",
                "--host",
                running.target,
                "--csv",
                str(csv),
                "--only-summary",
                "--stop-timeout",
                "30",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        # IndexVideo's ids were deleted by the users' on_stop: the catalog is as before.
        from vidsearch_client import VideoSearchClient

        with VideoSearchClient(
            running.target, timeout=30, token=token_env.get("VIDSEARCH_TOKEN")
        ) as client:
            assert client.stats().videos == 1
            library = {t.text for t in client.list_tags(page_size=100).tags}
            assert {"red ring", "striped background"} <= library  # the users' upserts
    finally:
        running.stop(grace=1.0)
        orchestrator.close()

    report = _make_report_module()
    rows, failures = report.read_stats(csv)
    by_name = {r.name: r for r in rows}
    tasks = ["SearchByVideo", "IndexVideo", "SearchByText", "SuggestTags"]
    assert {*tasks, "Aggregated"} <= set(by_name)
    assert failures == []
    for name in tasks:
        assert by_name[name].requests > 0 and by_name[name].failures == 0
        assert by_name[name].p50_ms > 0
    md = report.to_markdown(
        rows, failures, command="test", target=running.target, users=2, spawn_rate=2,
        duration="5s",
    )  # fmt: skip
    assert md.startswith("## Load test")
    assert "| SearchByVideo | " in md and "| IndexVideo | " in md and "| SearchByText | " in md
    assert "No errors." in md

    from vidsearch.evaluation.report import update_section

    out = update_section(tmp_path / "B.md", report.SECTION, md)
    text = out.read_text()
    assert "<!-- bench:loadtest -->" in text and "| SearchByVideo | " in text


def test_scenario_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(LOADTEST))
    try:
        from scenario import load_scenario
    finally:
        sys.path.remove(str(LOADTEST))
    default = load_scenario()
    assert default.weight_text > 0 and default.lines()  # the mixed scenario has text
    monkeypatch.setenv("LOADTEST_WEIGHT_SEARCH", "7")
    monkeypatch.setenv("LOADTEST_CLEANUP", "false")
    s = load_scenario()
    assert (s.weight_search, s.weight_index, s.cleanup) == (7, default.weight_index, False)
    monkeypatch.setenv("LOADTEST_WEIGHT_SEARCH", "0")
    monkeypatch.setenv("LOADTEST_WEIGHT_INDEX", "0")
    monkeypatch.setenv("LOADTEST_WEIGHT_TEXT", "0")
    monkeypatch.setenv("LOADTEST_WEIGHT_TAGS", "0")
    with pytest.raises(ValueError, match="every task weight is 0"):
        load_scenario()
