"""scripts/canary.sh --dry-run: the command sequence of each rollout step."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = "frame_encoder hash_texture_heads video_embedder"


def _commands(*args: str) -> list[str]:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts/canary.sh"), "--dry-run", *args],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return [line[2:] for line in proc.stdout.splitlines() if line.startswith("+ ")]


def test_help() -> None:
    out = subprocess.run(
        ["bash", str(ROOT / "scripts/canary.sh"), "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "usage: scripts/canary.sh" in out.stdout
    assert "--dry-run" in out.stdout and "reindex" in out.stdout


def test_start_sequence() -> None:
    """Triton serves what its models image holds (no load/unload): start first checks that
    every Triton pod serves the new version, then starts the canary."""
    cmds = _commands("--from", "1", "--weight", "25", "start")
    assert cmds[0] == f"every Triton pod must serve v2 of: {MODELS}"
    assert cmds[1].startswith("kubectl -n vidsearch get pods -l app.kubernetes.io/name=triton")
    assert cmds[2].startswith("each POD: kubectl -n vidsearch exec POD -c triton")
    assert cmds[3].startswith("kubectl -n vidsearch get deployment orchestrator -o json")
    assert _commands("--from", "1", "check") == cmds[:3]
    out = subprocess.run(
        ["bash", str(ROOT / "scripts/canary.sh"), "--dry-run", "--from", "1", "start"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # the multi-line canary Deployment pipeline
    manifest = out[
        out.index("+ kubectl -n vidsearch get") : out.index("+ kubectl -n vidsearch rollout")
    ]
    assert manifest.rstrip().endswith("| kubectl -n vidsearch apply -f -")
    assert '"VIDSEARCH_INFERENCE__MODEL_VERSION", "value": "2"' in manifest
    assert '"track"] = "canary"' in manifest
    assert "* 10 / 100" in manifest  # default --weight
    tail = [c for c in cmds[4:] if c.startswith(("kubectl", "vidsearch"))]
    assert tail == [
        "kubectl -n vidsearch rollout status deployment/orchestrator-canary --timeout=15m",
        "kubectl -n vidsearch exec deployment/orchestrator-canary -- "
        "vidsearch reindex --model-version 2",
    ]


def test_compare_queries() -> None:
    cmds = _commands("--from", "3", "--to", "5", "--window", "5m", "compare")
    assert len(cmds) == 2 and all(c.startswith("curl -fsS -G") for c in cmds)
    assert "histogram_quantile(0.95, sum by (le, version)" in cmds[0]
    assert 'vidsearch_rpc_seconds_bucket{method="SearchByVideo"}[5m]' in cmds[0]
    assert 'vidsearch_rpc_total{code!="OK"}[5m]' in cmds[1]
    assert all(
        "group_left (version) max by (pod, version) (vidsearch_model_info)" in c for c in cmds
    )


def test_promote_and_rollback_sequences() -> None:
    promote = _commands("--from", "1", "promote")
    assert promote == [
        "kubectl -n vidsearch set env deployment/orchestrator "
        "VIDSEARCH_INFERENCE__MODEL_VERSION=2 VIDSEARCH_CATALOG__COLLECTION_PREFIX=vidsearch-v2",
        "kubectl -n vidsearch rollout status deployment/orchestrator --timeout=15m",
        "kubectl -n vidsearch delete deployment orchestrator-canary --ignore-not-found",
    ]
    rollback = _commands("--from", "1", "rollback")
    assert rollback == [
        "kubectl -n vidsearch delete deployment orchestrator-canary --ignore-not-found",
    ]
