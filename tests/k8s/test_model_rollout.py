"""Model rollout through the manifests: the models image tag and the pinned model version
are what every Triton pod and every orchestrator serve (k8s/README.md, "Model rollout").

- A new models tag in an overlay changes the Triton pod template (so the Deployment rolls
  every pod) and nothing else; the orchestrators stay on the pinned model version.
- The real tritonserver, started with the manifest's model-control flags, serves every
  version of the repository it started with, refuses load/unload (no version can live in
  one pod's memory) and serves the same after a restart.
- ``scripts/canary.sh check`` reads each Triton pod's repository index and names a pod
  that lacks the new version.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import kustomize as kl  # tests/k8s is on pytest's pythonpath
import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OVERLAYS = ("dev", "gpu")
CANARY = ROOT / "scripts" / "canary.sh"
Resource = dict[str, Any]


def models_tag(overlay_dir: Path) -> str:
    kustomization = yaml.safe_load((overlay_dir / "kustomization.yaml").read_text())
    (entry,) = [i for i in kustomization.get("images") or [] if i["name"] == "vidsearch-models"]
    return str(entry["newTag"])


def triton_args(overlay: str) -> list[str]:
    triton = kl.named(kl.rendered(overlay), "Deployment", "triton")
    (c,) = [c for c in kl.pod_spec(triton)["containers"] if c["name"] == "triton"]
    return list(c["args"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_models_tag_and_model_version_are_pinned_in_the_overlay(overlay: str) -> None:
    resources = kl.rendered(overlay)
    tag = models_tag(ROOT / "k8s" / "overlays" / overlay)
    assert tag and tag != "latest"
    triton = kl.named(resources, "Deployment", "triton")
    (init,) = kl.pod_spec(triton)["initContainers"]
    assert init["image"] == f"vidsearch-models:{tag}"
    orchestrator = kl.named(resources, "Deployment", "orchestrator")
    (c,) = [c for c in kl.pod_spec(orchestrator)["containers"] if c["name"] == "orchestrator"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert int(env["VIDSEARCH_INFERENCE__MODEL_VERSION"]) >= 1  # never "latest"
    args = triton_args(overlay)
    assert "--model-control-mode=none" in args
    assert not [a for a in args if a.startswith("--load-model")]


def test_a_new_models_tag_rolls_every_triton_pod_and_nothing_else(tmp_path: Path) -> None:
    """The tag is the only change a rollout makes to the manifests; it changes the Triton
    pod template (the Deployment replaces every pod) and no other object."""
    shutil.copytree(ROOT / "k8s", tmp_path / "k8s")
    kustomization = tmp_path / "k8s" / "overlays" / "gpu" / "kustomization.yaml"
    tag = models_tag(kustomization.parent)
    kustomization.write_text(
        kustomization.read_text().replace(f"newTag: {tag}\n", "newTag: 0.2.0-m2\n", 1)
    )
    before = {(r["kind"], r["metadata"]["name"]): r for r in kl.rendered("gpu")}
    after = {(r["kind"], r["metadata"]["name"]): r for r in kl.render(kustomization.parent)}
    assert before.keys() == after.keys()
    changed = [key for key in before if before[key] != after[key]]
    assert changed == [("Deployment", "triton")]
    old, new = (kl.pod_spec(x[("Deployment", "triton")]) for x in (before, after))
    assert new["initContainers"][0]["image"] == "vidsearch-models:0.2.0-m2"
    new["initContainers"][0]["image"] = old["initContainers"][0]["image"]
    assert new == old, "only the models image differs"


# -- the real tritonserver with the manifest's flags --------------------------------------
MODEL_PY = """
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [
            pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("y", pb_utils.get_input_tensor_by_name(r, "x").as_numpy() * 2)
            ])
            for r in requests
        ]
"""
CONFIG = """
name: "double"
backend: "python"
max_batch_size: 8
version_policy { latest { num_versions: 2 } }
input { name: "x" data_type: TYPE_FP32 dims: [ 4 ] }
output { name: "y" data_type: TYPE_FP32 dims: [ 4 ] }
instance_group { count: 1 kind: KIND_CPU }
"""


def _index(http_url: str) -> list[dict[str, str]]:
    request = urllib.request.Request(
        f"http://{http_url}/v2/repository/index", data=b"{}", method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        found: list[dict[str, str]] = json.loads(response.read())
    return sorted(found, key=lambda m: (m["name"], m.get("version", "")))


@pytest.mark.triton
def test_triton_serves_its_image_on_every_start_and_refuses_loads(tmp_path: Path) -> None:
    pytest.importorskip("pytriton", reason="needs nvidia-pytriton (the triton extra)")
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    from vidsearch.inference.tritonserver import TritonServerProcess

    model = tmp_path / "repository" / "double"
    for version in ("1", "2"):  # what an image built after two exports holds
        (model / version).mkdir(parents=True)
        (model / version / "model.py").write_text(MODEL_PY)
    (model / "config.pbtxt").write_text(CONFIG)
    control = [a for a in triton_args("gpu") if a.startswith(("--model-control", "--load-model"))]
    server = TritonServerProcess(
        tmp_path / "repository", work_dir=tmp_path / "work", models=[], extra_args=control
    )
    expected = [
        {"name": "double", "version": "1", "state": "READY"},
        {"name": "double", "version": "2", "state": "READY"},
    ]
    with server:
        assert _index(server.http_url) == expected
        client = grpcclient.InferenceServerClient(server.grpc_url)
        for request in (client.unload_model, client.load_model):
            with pytest.raises(InferenceServerException, match="not allowed"):
                request("double")
        client.close()
        assert _index(server.http_url) == expected
    with server:  # a restarted pod: same image, same models
        assert _index(server.http_url) == expected


# -- scripts/canary.sh check ----------------------------------------------------------------
def _fake_kubectl(bin_dir: Path, indexes: dict[str, list[dict[str, str]]]) -> None:
    """kubectl that lists the given Triton pods and prints each one's repository index."""
    data = bin_dir / "indexes.json"
    data.write_text(json.dumps(indexes))
    script = bin_dir / "kubectl"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"indexes = json.load(open({str(data)!r}))\n"
        "args = sys.argv[1:]\n"
        "if 'get' in args and 'pods' in args:\n"
        "    print('\\n'.join(indexes))\n"
        "elif 'exec' in args:\n"
        "    print(json.dumps(indexes[args[args.index('exec') + 1]]))\n"
        "else:\n"
        "    sys.exit(f'unexpected kubectl {args}')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def _index_of(models: list[str], versions: list[str]) -> list[dict[str, str]]:
    return [{"name": m, "version": v, "state": "READY"} for m in models for v in versions]


def _canary(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(CANARY), *args],
        capture_output=True, text=True, timeout=60,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip


def test_canary_models_are_the_orchestrators() -> None:
    from vidsearch.models_cli import ORCHESTRATOR_MODELS

    line = next(x for x in CANARY.read_text().splitlines() if x.startswith("MODELS="))
    assert line.split("=", 1)[1].strip('"').split() == list(ORCHESTRATOR_MODELS)


def test_canary_check_reads_every_triton_pod(tmp_path: Path) -> None:
    from vidsearch.models_cli import ORCHESTRATOR_MODELS

    models = list(ORCHESTRATOR_MODELS)
    both = _index_of(models, ["1", "2"])
    _fake_kubectl(tmp_path, {"pod/triton-a": both, "pod/triton-b": both})
    done = _canary(tmp_path, "--from", "1", "--to", "2", "check")
    assert done.returncode == 0, done.stderr
    assert "pod/triton-a: v2" in done.stdout and "pod/triton-b: v2" in done.stdout

    # One pod still runs the previous models image (v1 only): the canary must not start.
    _fake_kubectl(tmp_path, {"pod/triton-a": both, "pod/triton-b": _index_of(models, ["1"])})
    done = _canary(tmp_path, "--from", "1", "--to", "2", "check")
    assert done.returncode == 3
    assert "pod/triton-b does not serve v2" in done.stderr and "Model rollout" in done.stderr
    started = _canary(tmp_path, "--from", "1", "--to", "2", "start")
    assert started.returncode == 3 and "apply" not in started.stdout


def test_canary_never_loads_or_unloads_models() -> None:
    for step in ("start", "promote", "rollback"):
        out = subprocess.run(
            ["bash", str(CANARY), "--dry-run", "--from", "1", step],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        assert "models load" not in out and "models unload" not in out, step
