"""The Triton metric names k8s/ queries (alerts, dashboard, autoscaling) are the ones a
real tritonserver exposes.

The tritonserver of nvidia-pytriton (Triton 2.51, the version the manifests run) serves a
one-model python-backend repository written here: a few requests batch, one fails in the
backend, and the names on its metrics port are compared with every ``nv_*`` name in the
queries. GPU metrics exist only on a GPU: those names are checked against the list below
(Triton's metrics documentation) instead.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import kustomize as kl  # tests/k8s is on pytest's pythonpath
import numpy as np
import promrules as pr
import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# Exposed only where a GPU is visible (overlays/gpu: --allow-gpu-metrics=true).
GPU_ONLY = frozenset({
    "nv_gpu_utilization", "nv_gpu_memory_total_bytes", "nv_gpu_memory_used_bytes",
    "nv_gpu_power_usage", "nv_gpu_power_limit", "nv_energy_consumption",
})  # fmt: skip

pytestmark = pytest.mark.triton

MODEL_PY = """
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "x").as_numpy()
            if (x < 0).any():  # fails the whole execution, as a crashing model does
                raise pb_utils.TritonModelException("negative input")
            out = pb_utils.Tensor("y", (x * 2).astype(np.float32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
"""

CONFIG = """
name: "double"
backend: "python"
max_batch_size: 8
input { name: "x" data_type: TYPE_FP32 dims: [ 4 ] }
output { name: "y" data_type: TYPE_FP32 dims: [ 4 ] }
instance_group { count: 1 kind: KIND_CPU }
dynamic_batching { max_queue_delay_microseconds: 100000 }
"""


def queried_triton_metrics() -> set[str]:
    """Every nv_* metric name in the rendered rules, the adapter values and the dashboard."""
    texts = [yaml.safe_dump(pr.prometheus_rule_groups(kl.rendered("gpu")))]
    texts += [pr.render_adapter_query(rule) for rule in pr.adapter_rules()]
    texts += [expr for _, expr in pr.dashboard_queries()]
    return {name for text in texts for name in re.findall(r"\bnv_[a-z_]+\b", text)}


@pytest.fixture(scope="module")
def triton_scrape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The metrics text of a real tritonserver after 2 good batches and 1 failed one."""
    pytest.importorskip("pytriton", reason="needs nvidia-pytriton (the triton extra)")
    import tritonclient.grpc as grpcclient

    from vidsearch.inference.tritonserver import TritonServerProcess

    root = tmp_path_factory.mktemp("triton-metrics")
    model = root / "repository" / "double"
    (model / "1").mkdir(parents=True)
    (model / "config.pbtxt").write_text(CONFIG)
    (model / "1" / "model.py").write_text(MODEL_PY)
    with TritonServerProcess(root / "repository", work_dir=root / "work") as server:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        for value in (1.0, 2.0, -1.0):
            tensor = grpcclient.InferInput("x", [2, 4], "FP32")
            tensor.set_data_from_numpy(np.full((2, 4), value, dtype=np.float32))
            try:
                client.infer("double", [tensor])
            except Exception as exc:  # the negative batch fails in the backend, on purpose
                assert "negative input" in str(exc)
        with urllib.request.urlopen(server.metrics_url, timeout=10) as response:
            text = response.read().decode()
        client.close()
    yield text


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample of ``name`` in a text exposition."""
    found = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) == name:
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', match.group(2) or ""))
            found.append((labels, float(match.group(3))))
    return found


def test_queries_name_metrics_a_real_tritonserver_exposes(triton_scrape: str) -> None:
    triton_metrics = {
        line.split()[2] for line in triton_scrape.splitlines() if line.startswith("# TYPE ")
    }
    queried = queried_triton_metrics()
    assert {"nv_inference_queue_duration_us", "nv_inference_exec_count",
            "nv_inference_request_failure"} <= queried  # fmt: skip
    missing = queried - triton_metrics - GPU_ONLY
    assert not missing, f"not exposed by tritonserver: {sorted(missing)}"


def test_labels_and_values_the_panels_rely_on(triton_scrape: str) -> None:
    """Failures carry `reason` (the dashboard groups by it); inferences count rows, executions
    count batches; every per-model series carries `model` and `version`."""
    failures = _samples(triton_scrape, "nv_inference_request_failure")
    backend = [v for labels, v in failures if labels.get("reason") == "BACKEND"]
    assert backend == [1.0], failures
    count = sum(v for _, v in _samples(triton_scrape, "nv_inference_count"))
    executions = sum(v for _, v in _samples(triton_scrape, "nv_inference_exec_count"))
    # Rows of the successful requests (2 x 2) over model executions (3, the failed one
    # included): what the batch-size panel divides.
    assert (count, executions) == (4.0, 3.0)
    for name in ("nv_inference_queue_duration_us", "nv_inference_request_success",
                 "nv_inference_pending_request_count"):  # fmt: skip
        label_sets = [set(labels) for labels, _ in _samples(triton_scrape, name)]
        assert label_sets and all({"model", "version"} <= found for found in label_sets), name
