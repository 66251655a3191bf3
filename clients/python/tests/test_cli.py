"""The `vidsearch-client` CLI against the tiny scripted servicer on loopback (see conftest):
table and JSON output, id derivation, exit codes, --target/env handling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from vidsearch_client.cli import main


def _run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_many_files_with_ids_from_stem(tiny: Any, tmp_path: Path, capsys: Any) -> None:
    paths = []
    for name in ("a.mp4", "b.mkv"):
        (tmp_path / name).write_bytes(name.encode() * 10)
        paths.append(str(tmp_path / name))
    code, out, _ = _run(
        capsys, "index", *paths, "--id-from", "stem", "--tags", "x,y", "--tags", "z",
        "--target", tiny.target,
    )  # fmt: skip
    assert code == 0
    headers = sorted((u.header for u in tiny.servicer.uploads), key=lambda h: h.video_id)
    assert [h.video_id for h in headers] == ["a", "b"]  # two at a time: any order
    assert [list(h.tags) for h in headers] == [["x", "y", "z"]] * 2
    assert [h.title for h in headers] == ["a", "b"]  # default title: the stem
    assert out.splitlines()[0].split() == [
        "video_id", "duration_s", "keyframes", "model", "title", "replaced",
    ]  # fmt: skip


def test_index_reports_failures_and_continues(tiny: Any, tmp_path: Path, capsys: Any) -> None:
    good = tmp_path / "good.mp4"
    good.write_bytes(b"g")
    code, out, err = _run(
        capsys, "index", str(tmp_path / "gone.mp4"), str(good), "--target", tiny.target, "--json"
    )
    assert code == 1
    assert "gone.mp4" in err
    entries = json.loads(out)  # one per file, in order; a failed one carries its error
    assert [e["path"] for e in entries] == [str(tmp_path / "gone.mp4"), str(good)]
    assert entries[0]["error"]["code"] is None and "gone.mp4" in entries[0]["error"]["message"]
    assert [e["video"]["video_id"] for e in entries if "video" in e] == ["good.mp4"]


def test_index_jobs(tiny: Any, tmp_path: Path, capsys: Any) -> None:
    """--jobs 1 uploads in the order given; --jobs must be a whole number >= 1."""
    paths = []
    for name in ("c.mp4", "a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(name.encode() * 10)
        paths.append(str(tmp_path / name))
    code, _, _ = _run(capsys, "index", *paths, "--jobs", "1", "--target", tiny.target)
    assert code == 0
    assert [u.header.video_id for u in tiny.servicer.uploads] == ["c.mp4", "a.mp4", "b.mp4"]
    with pytest.raises(SystemExit) as exited:
        main(["index", *paths, "--jobs", "0", "--target", tiny.target])
    assert exited.value.code == 2
    assert "--jobs: must be a whole number >= 1" in capsys.readouterr().err


def test_search_table_and_json(tiny: Any, tmp_path: Path, capsys: Any) -> None:
    query = tmp_path / "q.mp4"
    query.write_bytes(b"q" * 100)
    code, out, _ = _run(
        capsys, "search", "--video", str(query), "--mode", "texture", "--top-k", "2",
        "--target", tiny.target,
    )  # fmt: skip
    assert code == 0
    assert "query 6.0s, model v2, mode keyframe, 2 hit(s)" in out
    assert "ref-1" in out and "1.0-4.0s @ 10.0-13.0s" in out
    options = tiny.servicer.uploads[0].header.options
    assert options.top_k == 2 and options.mode == 1
    code, out, _ = _run(capsys, "search", "--uri", "/srv/q.mp4", "--json", "--target", tiny.target)
    data = json.loads(out)
    assert data["hits"][0]["video"]["video_id"] == "ref-1"
    assert data["hits"][0]["segments"][0]["reference_end_s"] == 13.0
    assert data["stage_seconds"] == {"decode": 0.2, "rerank": 0.01}


def test_search_text_table_json_and_options(tiny: Any, capsys: Any) -> None:
    code, out, _ = _run(
        capsys, "search", "--text", "a red circle", "--top-k", "2", "--candidates", "20",
        "--no-keywords", "--target", tiny.target,
    )  # fmt: skip
    assert code == 0
    assert "keywords: red circle, circle, 2 hit(s)" in out and "ref-3" in out
    name, request, _ = tiny.servicer.unary[-1]
    assert name == "SearchByText" and request.text == "a red circle"
    opts = request.options
    assert (opts.top_k, opts.candidates, opts.keyword_enhancement) == (2, 20, False)
    assert not opts.HasField("rerank")  # unset: the server's default
    code, out, _ = _run(capsys, "search", "--text", "x", "--json", "--target", tiny.target)
    data = json.loads(out)
    assert data["keywords"] == ["red circle", "circle"]
    assert data["hits"][0]["text"] == {"embedding_similarity": 0.41, "rescored": True,
                                       "score": 0.7, "fine": 0.3, "coarse": 0.4}
    assert data["hits"][1]["text"]["rescored"] is False


def test_recommend_stats_get_delete(tiny: Any, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("VIDSEARCH_TARGET", tiny.target)  # no --target needed
    code, out, _ = _run(capsys, "recommend", "seed", "--k", "2", "--json")
    assert code == 0 and [n["video"]["video_id"] for n in json.loads(out)] == ["n0", "n1"]
    code, out, _ = _run(capsys, "stats")
    assert code == 0 and "qdrant_edge" in out and "keyframes" in out
    code, out, _ = _run(capsys, "get", "v1")
    assert code == 0 and "v1" in out
    code, out, _ = _run(capsys, "delete", "missing")
    assert code == 0 and "was not indexed" in out


def test_errors_exit_one_with_code_and_message(tiny: Any, capsys: Any) -> None:
    code, _, err = _run(capsys, "get", "missing", "--target", tiny.target)
    assert code == 1
    assert "NOT_FOUND" in err and "not indexed" in err
    tiny.servicer.fail = [grpc.StatusCode.INVALID_ARGUMENT]
    code, _, err = _run(capsys, "stats", "--target", tiny.target)
    assert code == 1 and "request id req-123" in err


def test_health_exit_status(tiny: Any, capsys: Any) -> None:
    code, out, _ = _run(capsys, "health", "--target", tiny.target)
    assert (code, out.strip()) == (0, "SERVING")
    tiny.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    code, out, _ = _run(capsys, "health", "--target", tiny.target, "--json")
    assert code == 1 and json.loads(out)["status"] == "NOT_SERVING"


def test_help_and_usage(capsys: Any) -> None:
    assert main([]) == 2
    with pytest.raises(SystemExit) as caught:
        main(["search", "--help"])
    assert caught.value.code == 0
    assert "--max-hamming" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["search"])  # --video or --uri is required
