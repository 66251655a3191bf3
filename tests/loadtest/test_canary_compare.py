"""scripts/canary.sh compare, for real: its PromQL runs on a real Prometheus (loopback) that
scrapes three processes exposing vidsearch's own metrics (``vidsearch.metrics``: model info
+ per-RPC histograms/counters) as orchestrator pods of model versions 1, 2 and 3 would.

Stand-in, stated: the three "pods" are not serving searches; each observes a fixed
SearchByVideo latency (and, for v3, errors) into the real metric objects, because three
orchestrators with three model versions and a cluster's worth of traffic cannot run
here. What is real: the metric names and labels, Prometheus, the script's queries,
its per-version join on the pod label and its promote / roll back decision.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

EMITTER = """
import sys, time
from vidsearch import metrics
version, latency, error_every = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
_, port = metrics.start_metrics_http("127.0.0.1", 0)
metrics.set_model_info("frame_encoder", version, "onnxruntime")
print(port, flush=True)
n = 0
while True:
    for _ in range(5):
        n += 1
        metrics.RPC_SECONDS.labels(method="SearchByVideo").observe(latency)
        code = "INTERNAL" if error_every and n % error_every == 0 else "OK"
        metrics.RPC_TOTAL.labels(method="SearchByVideo", code=code).inc()
    time.sleep(0.1)
"""

# (pod, model version, SearchByVideo seconds, every n-th request fails; 0 = none)
PODS = (("orchestrator-a", 1, 0.12, 0), ("canary-good", 2, 0.12, 0),
        ("canary-bad", 3, 0.9, 4))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _query(base: str, promql: str) -> list[dict]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        import json

        return list(json.loads(response.read().decode())["data"]["result"])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (make promtool)")
    emitters, targets = [], []
    try:
        for pod, version, latency, errors in PODS:
            proc = subprocess.Popen(
                [sys.executable, "-c", EMITTER, str(version), str(latency), str(errors)],
                stdout=subprocess.PIPE, text=True, cwd=ROOT,
            )  # fmt: skip
            emitters.append(proc)
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            targets.append({"targets": [f"127.0.0.1:{port}"],
                            "labels": {"namespace": "vidsearch", "pod": pod}})
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "orchestrator", "static_configs": targets}],
        }))  # fmt: skip
        port = _free_port()
        server = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        emitters.append(server)
        yield f"http://127.0.0.1:{port}"
    finally:
        for proc in emitters:
            proc.terminate()
            proc.wait(timeout=10)


def _canary(base: str, to: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts/canary.sh"), "--from", "1", "--to", str(to),
         "--prometheus", base, "--window", "20s", "compare"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.timeout(180)
def test_compare_promotes_a_good_canary_and_rolls_back_a_bad_one(prometheus: str) -> None:
    per_version = "max by (pod, version) (vidsearch_model_info)"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # rate() over 20 s needs a few scrapes per pod
        try:
            seen = {r["metric"]["version"] for r in _query(prometheus, per_version)}
            rates = _query(prometheus, "sum by (pod) (rate(vidsearch_rpc_total[20s]))")
        except OSError:  # not listening yet
            seen, rates = set(), []
        if seen == {"1", "2", "3"} and len(rates) == 3:
            break
        time.sleep(1)
    else:
        pytest.fail(f"Prometheus never saw the three pods: {seen}")

    good = _canary(prometheus, 2)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "canary within budget: promote" in good.stdout

    bad = _canary(prometheus, 3)
    assert bad.returncode == 3, bad.stdout + bad.stderr  # 0.9 s p95 vs 0.12 s, 25 % errors
    assert "canary over budget: roll back" in bad.stdout

    missing = _canary(prometheus, 4)  # no pod serves v4: nothing to judge yet
    assert missing.returncode not in (0, 3) and "no traffic measured for v4" in missing.stderr
