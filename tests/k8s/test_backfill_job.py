"""k8s/backfill: the KubeRay RayJob of `vidsearch backfill`, rendered by the real kustomize
and checked offline. The RayJob against a schema written from KubeRay's API types
(tests/k8s/kuberay.py), its pod templates with kubernetes-validate --strict; the other
objects with the bundled schemas. Then what makes it run as intended: a CPU decode group
and a GPU encode group, an entrypoint the real CLI accepts, the orchestrator's catalog and
media settings, Ray's version pinned as the extra pins it, images `make images` builds,
non-root pods, and network paths to Qdrant."""

from __future__ import annotations

import copy
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate as kv
import kustomize as kl  # tests/k8s is on pytest's pythonpath
import pytest
from kuberay import pod_templates, validate_rayjob

from vidsearch.batch.report import NODE_DECODE_CPUS, NODE_ENCODERS

ROOT = Path(__file__).resolve().parents[2]
Resource = dict[str, Any]


@pytest.fixture(scope="module")
def resources() -> list[Resource]:
    return kl.render(ROOT / "k8s" / "backfill")


@pytest.fixture
def rayjob(resources: list[Resource]) -> Resource:
    return copy.deepcopy(kl.named(resources, "RayJob", "vidsearch-backfill"))


def _groups(rayjob: Resource) -> dict[str, Resource]:
    return {g["groupName"]: g for g in rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]}


def _container(template: Resource) -> Resource:
    containers: list[Resource] = template["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_every_object_passes_its_schema(resources: list[Resource], rayjob: Resource) -> None:
    assert {r["kind"] for r in resources} == {"ConfigMap", "PersistentVolumeClaim",
                                              "NetworkPolicy", "RayJob"}  # fmt: skip
    for resource in resources:
        assert resource["metadata"]["namespace"] == "vidsearch"
        if resource["kind"] != "RayJob":
            kv.validate(resource, kv.latest_version(), strict=True)
    assert validate_rayjob(rayjob) == 4  # head, two worker groups, the submitter


@pytest.mark.parametrize(
    "spoil",
    [
        lambda j: j["spec"]["rayClusterSpec"].update(workerGroupSpec=[]),  # misspelt
        lambda j: j["spec"].update(submissionMode="K8sMode"),  # not an enum value
        lambda j: _groups(j)["decode-cpu"].update(replicas="4"),  # a string, not an integer
        lambda j: _groups(j)["encode-gpu"].pop("maxReplicas"),  # required
        lambda j: j["spec"]["rayClusterSpec"]["headGroupSpec"].pop("rayStartParams"),
        lambda j: _groups(j)["decode-cpu"]["template"]["spec"].update(
            terminationGracePeriodSecond=1),  # a typo inside a pod template
        lambda j: _container(_groups(j)["encode-gpu"]["template"]).update(imagePullPolicy=7),
    ],
)
def test_the_structural_check_is_not_vacuous(rayjob: Resource, spoil: Any) -> None:
    spoil(rayjob)
    with pytest.raises((jsonschema.ValidationError, AssertionError)):
        validate_rayjob(rayjob)


def test_a_cpu_decode_group_and_a_gpu_encode_group(rayjob: Resource) -> None:
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"  # the driver (catalog writer) only
    groups = _groups(rayjob)
    assert set(groups) == {"decode-cpu", "encode-gpu"}
    decode, encode = groups["decode-cpu"], groups["encode-gpu"]
    decode_limits = _container(decode["template"])["resources"]["limits"]
    assert "nvidia.com/gpu" not in decode_limits
    assert "nodeSelector" not in decode["template"]["spec"]
    encode_resources = _container(encode["template"])["resources"]
    gpus = int(encode_resources["limits"]["nvidia.com/gpu"])
    assert gpus >= 1 and encode["rayStartParams"]["num-gpus"] == str(gpus)
    # Ray's CPU count is the pod's request: decode tasks fill the decode group's CPUs.
    for group in (decode, encode):
        cpu = _container(group["template"])["resources"]["requests"]["cpu"]
        assert group["rayStartParams"]["num-cpus"] == cpu
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    # `vidsearch backfill` projects its throughput onto nodes of this shape by default.
    assert (int(decode["rayStartParams"]["num-cpus"]), gpus) == (NODE_DECODE_CPUS, NODE_ENCODERS)
    spec = encode["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        spec["tolerations"]


def test_entrypoint_is_a_backfill_the_cli_accepts(
    rayjob: Resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vidsearch.cli import build_parser

    words = shlex.split(rayjob["spec"]["entrypoint"])
    assert words[:2] == ["vidsearch", "backfill"]
    # The files are in the pod, not here: their paths are checked against its volumes below.
    monkeypatch.setattr("vidsearch.batch.cli.existing_file", Path)
    args = build_parser().parse_args(words[1:])
    manifest = args.manifest
    assert manifest is not None and not args.reindex
    groups = _groups(rayjob)
    encode = groups["encode-gpu"]
    gpus = int(_container(encode["template"])["resources"]["limits"]["nvidia.com/gpu"])
    assert args.encoder_gpus == 1 and args.encoders <= encode["replicas"] * gpus
    assert args.encoder_cpus * gpus <= float(encode["rayStartParams"]["num-cpus"])
    assert args.decode_cpus <= float(groups["decode-cpu"]["rayStartParams"]["num-cpus"])
    # The files it names live on the head's volumes: manifest read-only, report writable.
    head = _container(rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"])
    mounts = {Path(m["mountPath"]): m for m in head["volumeMounts"]}
    assert mounts[manifest.parent].get("readOnly") is True
    assert not mounts[args.report.parent].get("readOnly")
    assert args.config.parent in mounts
    ports = {p["containerPort"] for p in head["ports"]}
    assert args.metrics_port in ports


def test_head_config_is_the_orchestrators_catalog_and_media(
    resources: list[Resource], rayjob: Resource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vidsearch.config import load_config

    def config_of(container: Resource, config_map: Resource, tmp: Path) -> Any:
        tmp.write_text(config_map["data"]["config.yaml"])
        for key in [k for k in os.environ if k.startswith("VIDSEARCH_")]:
            monkeypatch.delenv(key)
        for env in container.get("env") or []:
            if "value" in env:
                monkeypatch.setenv(env["name"], env["value"])
        return load_config(tmp)

    head = _container(rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"])
    ours = config_of(head, kl.named(resources, "ConfigMap", "backfill-config"),
                     tmp_path / "backfill.yaml")  # fmt: skip
    gpu = kl.rendered("gpu")
    orchestrator = kl.pod_spec(kl.named(gpu, "Deployment", "orchestrator"))["containers"][0]
    volume = next(v for v in kl.pod_spec(kl.named(gpu, "Deployment", "orchestrator"))["volumes"]
                  if v["name"] == "config")  # fmt: skip
    theirs = config_of(orchestrator, kl.named(gpu, "ConfigMap", volume["configMap"]["name"]),
                       tmp_path / "orchestrator.yaml")  # fmt: skip
    assert ours.media == theirs.media  # codes made with other sampling would not match
    assert ours.inference.model_version == theirs.inference.model_version
    for field in ("backend", "url", "collection_prefix", "replication_factor", "shard_number",
                  "prefer_grpc"):
        assert getattr(ours.catalog, field) == getattr(theirs.catalog, field), field
    # TLS to Qdrant, verified with the CA of the orchestrator's certificate Secret.
    template = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]
    ca_mount = next(m for m in head["volumeMounts"]
                    if ours.catalog.tls_ca_file.parent == Path(m["mountPath"]))  # fmt: skip
    ca = next(v for v in template["spec"]["volumes"] if v["name"] == ca_mount["name"])["secret"]
    assert ca["secretName"] == "orchestrator-grpc-tls"
    assert ca["items"] == [{"key": "ca.crt", "path": ours.catalog.tls_ca_file.name}]
    key = next(e for e in head["env"] if e["name"] == "VIDSEARCH_CATALOG__API_KEY")
    assert key["valueFrom"]["secretKeyRef"] == {"name": "qdrant-api-key", "key": "api-key"}
    assert ours.inference.backend == "onnxruntime"
    assert ours.inference.model_repository == Path("/models")
    for where, template in pod_templates(rayjob):  # every model reader has the models
        if where in ("head", "worker group encode-gpu"):
            models = next(m for m in _container(template)["volumeMounts"]
                          if m["name"] == "models")  # fmt: skip
            assert Path(models["mountPath"]) == ours.inference.model_repository
            init = template["spec"]["initContainers"][0]
            assert init["image"].split(":")[0] == "vidsearch-models"


def test_ray_version_is_the_extras_pin(rayjob: Resource) -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["backfill"]  # fmt: skip
    pinned = next(re.fullmatch(r"ray\[data\]==(.+)", e) for e in extras if e.startswith("ray"))
    assert pinned is not None
    assert rayjob["spec"]["rayClusterSpec"]["rayVersion"] == pinned[1]


def test_images_are_built_and_pods_run_as_their_user(rayjob: Resource) -> None:
    listed = subprocess.run(["bash", str(ROOT / "scripts" / "build_images.sh"), "--list"],
                            capture_output=True, text=True, check=True, timeout=30).stdout
    built = dict(line.split() for line in listed.splitlines() if line.strip())
    for where, template in pod_templates(rayjob):
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        uid = spec["securityContext"]["runAsUser"]
        for c in kl.all_containers(spec):
            context = c["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            if c["image"].startswith("vidsearch-models:"):
                continue  # the models image, as the orchestrator's pods copy it
            dockerfile = (ROOT / built[c["image"]]).read_text()
            user = re.findall(r"^USER (\d+)", dockerfile, flags=re.M)[-1]
            assert int(user) == uid, f"{where}: {c['image']} runs as {user}"
            assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}, where


def test_network_paths_reach_qdrant_and_nothing_else(resources: list[Resource]) -> None:
    backfill = kl.named(resources, "NetworkPolicy", "backfill")["spec"]
    label = {"app.kubernetes.io/name": "backfill", "app.kubernetes.io/part-of": "vidsearch"}
    assert backfill["podSelector"]["matchLabels"] == label
    qdrant = {"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/part-of": "vidsearch"}
    out = {(tuple(sorted(rule["to"][0]["podSelector"]["matchLabels"].items())),
            tuple(p["port"] for p in rule.get("ports", [])))
           for rule in backfill["egress"]}  # fmt: skip
    assert out == {(tuple(sorted(label.items())), ()),
                   (tuple(sorted(qdrant.items())), (6333, 6334))}  # fmt: skip
    opened = kl.named(resources, "NetworkPolicy", "qdrant-from-backfill")["spec"]
    assert opened["podSelector"]["matchLabels"] == qdrant
    assert opened["policyTypes"] == ["Ingress"]
    assert opened["ingress"] == [{"from": [{"podSelector": {"matchLabels": label}}],
                                  "ports": [{"protocol": "TCP", "port": 6333},
                                            {"protocol": "TCP", "port": 6334}]}]  # fmt: skip
