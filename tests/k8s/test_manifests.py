"""Invariants of the Kubernetes manifests in k8s/, on the rendered overlays.

The overlays are rendered by the real kustomize (``kubectl kustomize``; see
``kustomize.py`` next to this file). Built-in kinds are validated against the Kubernetes
OpenAPI schemas bundled with ``kubernetes-validate`` (strict); the CRDs (ServiceMonitor,
PodMonitor, PrometheusRule, Certificate) have no bundled schema and are checked
structurally here. The rules, adapter query and dashboard queries go through ``promtool``
and a real Prometheus server that scrapes the orchestrator's metrics endpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kustomize as kl  # tests/k8s is on pytest's pythonpath
import promrules as pr
import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
K8S = ROOT / "k8s"
OVERLAYS = ("dev", "gpu")
NAMESPACE = "vidsearch"
CRD_GROUPS = frozenset({"monitoring.coreos.com", "cert-manager.io"})
# Secrets the operator creates before applying an overlay (never committed: they hold
# credentials); k8s/README.md says how.
OPERATOR_SECRETS: dict[str, frozenset[str]] = {
    "dev": frozenset(),
    "gpu": frozenset({"vidsearch-auth-tokens", "qdrant-api-key"}),
}
APT_HINT = "apt-get install -y --no-install-recommends prometheus"

Resource = dict[str, Any]




rendered = kl.rendered


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind]


named = kl.named


def workloads(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if r["kind"] in ("Deployment", "StatefulSet")]


def container(workload: Resource, name: str) -> dict[str, Any]:
    spec = kl.pod_spec(workload)
    return next(c for c in spec["containers"] if c["name"] == name)


def template_labels(workload: Resource) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels + matchExpressions)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def env_of(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env") or [] if "value" in e}


def container_ports(workload: Resource) -> dict[str | int, int]:
    """Port name -> number and number -> number of every container of a workload."""
    ports: dict[str | int, int] = {}
    for c in kl.pod_spec(workload)["containers"]:
        for port in c.get("ports") or []:
            ports[port["containerPort"]] = port["containerPort"]
            if "name" in port:
                ports[port["name"]] = port["containerPort"]
    return ports


def probe_port(workload: Resource, probe: dict[str, Any]) -> int:
    """The container port number a probe checks."""
    for kind in ("grpc", "httpGet", "tcpSocket"):
        if kind in probe:
            return container_ports(workload)[probe[kind]["port"]]
    raise AssertionError(f"probe without a handler: {probe}")


# -- rendering and schemas ------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_expected_objects(overlay: str) -> None:
    resources = rendered(overlay)
    kinds = {(r["kind"], r["metadata"]["name"]) for r in resources}
    for expected in [
        ("Deployment", "orchestrator"),
        ("Deployment", "triton"),
        ("StatefulSet", "qdrant"),
        ("Service", "qdrant-headless"),
        ("NetworkPolicy", "default-deny-all"),
    ]:
        assert expected in kinds
    for r in resources:
        if r["kind"] != "Namespace":
            assert r["metadata"].get("namespace") == NAMESPACE, r["metadata"]
    monitoring = {"ServiceMonitor", "PodMonitor", "PrometheusRule", "HorizontalPodAutoscaler"}
    present = {r["kind"] for r in resources}
    if overlay == "gpu":
        assert monitoring <= present
    else:
        assert not monitoring & present, "dev must not need the monitoring CRDs or an adapter"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builtin_kinds_pass_strict_kubernetes_schema(overlay: str) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    version = kv.latest_version()
    checked = 0
    for resource in rendered(overlay):
        group, _ = kl.group_version(resource["apiVersion"])
        if group in CRD_GROUPS:
            continue
        try:
            kv.validate(resource, version, strict=True)
        except kv.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{resource['kind']}/{resource['metadata']['name']}: {path}: {exc.message}")
        checked += 1
    assert checked >= 20


def test_strict_schema_rejects_a_misspelt_field() -> None:
    """The schema check is not vacuous: a typo in a pod spec fails it."""
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    deployment = named(rendered("dev"), "Deployment", "orchestrator")
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 1
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, kv.latest_version(), strict=True)


def test_yamllint_is_clean() -> None:
    pytest.importorskip("yamllint", reason="pip install yamllint")
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", "-c", str(K8S / ".yamllint"), str(K8S)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- the CRDs, structurally -----------------------------------------------------------------
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_ALLOWED = {
    "ServiceMonitor": {"jobLabel", "selector", "endpoints", "namespaceSelector", "targetLabels"},
    "PodMonitor": {"jobLabel", "selector", "podMetricsEndpoints", "namespaceSelector"},
    "endpoint": {
        "port",
        "path",
        "interval",
        "scrapeTimeout",
        "scheme",
        "relabelings",
        "tlsConfig",
        "authorization",
    },
    "group": {"name", "interval", "rules", "limit"},
    "rule": {"alert", "record", "expr", "for", "labels", "annotations"},
    "Certificate": {
        "secretName",
        "duration",
        "renewBefore",
        "dnsNames",
        "privateKey",
        "usages",
        "issuerRef",
    },
}


def _only(keys: Any, allowed: set[str], what: str) -> None:
    extra = set(keys) - allowed
    assert not extra, f"{what}: unexpected fields {sorted(extra)}"


def test_service_and_pod_monitors_scrape_named_metrics_ports() -> None:
    resources = rendered("gpu")
    for monitor in of_kind(resources, "ServiceMonitor"):
        spec = monitor["spec"]
        _only(spec, _ALLOWED["ServiceMonitor"], monitor["metadata"]["name"])
        services = [
            s
            for s in of_kind(resources, "Service")
            if selects(spec["selector"], s["metadata"]["labels"])
        ]
        assert len(services) == 1, (
            f"ServiceMonitor {monitor['metadata']['name']} selects {len(services)}"
        )
        service = services[0]
        assert spec["jobLabel"] in service["metadata"]["labels"]
        port_names = {p["name"] for p in service["spec"]["ports"]}
        for endpoint in spec["endpoints"]:
            _only(endpoint, _ALLOWED["endpoint"], "endpoint")
            assert endpoint["port"] in port_names
            assert _DURATION.match(endpoint["interval"]) and _DURATION.match(
                endpoint["scrapeTimeout"]
            )
    for monitor in of_kind(resources, "PodMonitor"):
        spec = monitor["spec"]
        _only(spec, _ALLOWED["PodMonitor"], monitor["metadata"]["name"])
        targets = [w for w in workloads(resources) if selects(spec["selector"], template_labels(w))]
        assert len(targets) == 1
        assert spec["jobLabel"] in template_labels(targets[0])
        for endpoint in spec["podMetricsEndpoints"]:
            _only(endpoint, _ALLOWED["endpoint"], "podMetricsEndpoint")
            assert endpoint["port"] in container_ports(targets[0])
    # Each workload is scraped exactly once; the job names are what the alerts use.
    jobs = set()
    for monitor in of_kind(resources, "ServiceMonitor") + of_kind(resources, "PodMonitor"):
        jobs.add(monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"])
    assert jobs == {"orchestrator", "triton", "qdrant"}


def _markdown_anchors(path: Path) -> set[str]:
    """GitHub-style anchors of a Markdown file's headings."""
    anchors = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def test_prometheus_rule_structure() -> None:
    rules = of_kind(rendered("gpu"), "PrometheusRule")
    assert len(rules) == 1
    groups = rules[0]["spec"]["groups"]
    assert len({g["name"] for g in groups}) == len(groups)
    alerts: dict[str, dict[str, Any]] = {}
    for group in groups:
        _only(group, _ALLOWED["group"], group["name"])
        for rule in group["rules"]:
            _only(rule, _ALLOWED["rule"], str(rule))
            assert ("alert" in rule) != ("record" in rule)
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            if "for" in rule:
                assert _DURATION.match(rule["for"])
            if "alert" in rule:
                assert rule["labels"]["severity"] in ("warning", "critical")
                assert rule["annotations"]["summary"]
                alerts[rule["alert"]] = rule
    for required in (
        "VidsearchSearchLatencyHigh",
        "VidsearchErrorRatioHigh",
        "TritonQueueTimeHigh",
        "QdrantDown",
        "VidsearchLoadShedding",
        "VidsearchStageRejecting",
        "VidsearchInferenceFallback",
    ):
        assert required in alerts
    # A vanished target (no `up` series) is alerted on for every scraped job.
    absent = {
        m.group(1)
        for rule in alerts.values()
        for m in [re.fullmatch(r'absent\(up\{job="([a-z]+)"\}\)', rule["expr"].strip())]
        if m
    }
    assert absent == {"orchestrator", "triton", "qdrant"}
    # Every alert links a runbook section that exists.
    anchors = _markdown_anchors(ROOT / "docs" / "runbooks.md")
    for name, rule in alerts.items():
        url = rule["annotations"].get("runbook_url", "")
        path, _, anchor = url.partition("#")
        assert path == "docs/runbooks.md" and anchor in anchors, f"{name}: runbook_url {url!r}"
    queue = alerts["TritonQueueTimeHigh"]["expr"]
    assert "nv_inference_queue_duration_us" in queue and "nv_inference_request_success" in queue


def test_certificate_feeds_the_mounted_tls_secret() -> None:
    resources = rendered("gpu")
    certificate = named(resources, "Certificate", "orchestrator-grpc-tls")
    spec = certificate["spec"]
    _only(spec, _ALLOWED["Certificate"], "Certificate")
    assert f"orchestrator.{NAMESPACE}.svc" in spec["dnsNames"]
    deployment = named(resources, "Deployment", "orchestrator")
    assert ("Secret", spec["secretName"]) in kl.pod_references(deployment)


# -- GPU / CPU twin -------------------------------------------------------------------------
def _mentions_gpu(value: Any) -> bool:
    return "nvidia.com/gpu" in json.dumps(value)


def test_gpu_overlay_puts_triton_on_a_gpu() -> None:
    triton = named(rendered("gpu"), "Deployment", "triton")
    spec = kl.pod_spec(triton)
    limits = container(triton, "triton")["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) >= 1
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert any(
        t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule" for t in spec["tolerations"]
    )
    assert "--allow-gpu-metrics=true" in container(triton, "triton")["args"]
    assert container(triton, "triton")["image"].startswith("nvcr.io/nvidia/tritonserver:")
    # Only Triton asks for GPUs.
    for workload in workloads(rendered("gpu")):
        if workload["metadata"]["name"] != "triton":
            assert not _mentions_gpu(kl.pod_spec(workload))


def test_dev_overlay_has_no_gpu_and_serves_the_cpu_twin() -> None:
    resources = rendered("dev")
    for workload in workloads(resources):
        assert not _mentions_gpu(kl.pod_spec(workload)), workload["metadata"]["name"]
    triton = named(resources, "Deployment", "triton")
    assert "nvcr.io" not in container(triton, "triton")["image"]
    init = kl.pod_spec(triton)["initContainers"][0]
    assert init["command"] == ["cp", "-R", "/model_repository_cpu/.", "/models/"]
    for workload in workloads(resources):
        assert workload["spec"]["replicas"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_triton_serving_flags_probes_and_shm(overlay: str) -> None:
    triton = named(rendered(overlay), "Deployment", "triton")
    c = container(triton, "triton")
    args = c["args"]
    # The models image is what a pod serves: no load/unload into one pod's memory.
    assert "--model-control-mode=none" in args
    assert not [a for a in args if a.startswith("--load-model")]
    assert "--metrics-port=8002" in args and container_ports(triton)["metrics"] == 8002
    assert "--grpc-port=8001" in args and container_ports(triton)["grpc"] == 8001
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    startup = c["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert budget >= (600 if overlay == "gpu" else 60), "startupProbe too short for model loads"
    repo = next(a.split("=", 1)[1] for a in args if a.startswith("--model-repository="))
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in kl.pod_spec(triton)["volumes"]}
    assert repo in mounts
    shm = volumes[mounts["/dev/shm"]]["emptyDir"]
    assert shm["medium"] == "Memory" and shm["sizeLimit"]


# -- probes and security --------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_probes_on_its_own_ports(overlay: str) -> None:
    for workload in workloads(rendered(overlay)):
        for c in kl.pod_spec(workload)["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in c, f"{workload['metadata']['name']}/{c['name']} lacks {probe}"
                probe_port(workload, c[probe])  # resolves to a declared container port
    orchestrator = named(rendered(overlay), "Deployment", "orchestrator")
    # The plaintext health-only port: the API port may speak TLS, kubelet's probe cannot.
    assert container(orchestrator, "orchestrator")["readinessProbe"]["grpc"] == {"port": 50052}


def _effective(pod: dict[str, Any], c: dict[str, Any], field: str) -> Any:
    return (c.get("securityContext") or {}).get(
        field, (pod.get("securityContext") or {}).get(field)
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_container_can_run_as_root_or_escalate(overlay: str) -> None:
    resources = rendered(overlay)
    accounts = {sa["metadata"]["name"]: sa for sa in of_kind(resources, "ServiceAccount")}
    pods = [r for r in resources if kl.pod_spec(r) is not None]  # CronJobs too
    assert {r["kind"] for r in pods} >= {"Deployment", "StatefulSet", "CronJob"}
    for workload in pods:
        pod = kl.pod_spec(workload)
        name = workload["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False, name
        assert accounts[pod["serviceAccountName"]]["automountServiceAccountToken"] is False
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        assert not any("hostPath" in v for v in pod.get("volumes") or [])
        for c in kl.all_containers(pod):
            where = f"{name}/{c['name']}"
            sc = c.get("securityContext") or {}
            assert _effective(pod, c, "runAsNonRoot") is True, where
            assert _effective(pod, c, "runAsUser") not in (0, None), where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("privileged") is not True, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), (
                where
            )
            assert _effective(pod, c, "seccompProfile") == {"type": "RuntimeDefault"}, where
        for c in pod["containers"]:  # read-only root: /tmp must be a volume
            assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}, f"{name}/{c['name']}"
    namespace = named(resources, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# -- coverage: PDBs, NetworkPolicies, references --------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_a_pdb_and_a_network_policy(overlay: str) -> None:
    resources = rendered(overlay)
    pdbs = of_kind(resources, "PodDisruptionBudget")
    policies = of_kind(resources, "NetworkPolicy")
    for workload in workloads(resources):
        labels = template_labels(workload)
        assert selects(workload["spec"]["selector"], labels)
        covering = [p for p in pdbs if selects(p["spec"]["selector"], labels)]
        assert len(covering) == 1, f"{workload['metadata']['name']}: {len(covering)} PDBs"
        own = [
            p
            for p in policies
            if p["spec"]["podSelector"] and selects(p["spec"]["podSelector"], labels)
        ]
        assert own, f"{workload['metadata']['name']} has no NetworkPolicy of its own"
    for pdb in pdbs:  # and no PDB selects nothing
        assert any(
            selects(pdb["spec"]["selector"], template_labels(w)) for w in workloads(resources)
        )
    deny = named(resources, "NetworkPolicy", "default-deny-all")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_resolve(overlay: str) -> None:
    resources = rendered(overlay)
    existing = {(r["kind"], r["metadata"]["name"]) for r in resources}
    existing |= {("Secret", c["spec"]["secretName"]) for c in of_kind(resources, "Certificate")}
    existing |= {("Secret", name) for name in OPERATOR_SECRETS[overlay]}
    for workload in workloads(resources):
        name = workload["metadata"]["name"]
        for ref in kl.pod_references(workload):
            assert ref in existing, f"{name} refers to missing {ref}"
        pod = kl.pod_spec(workload)
        volumes = {v["name"] for v in pod.get("volumes") or []}
        volumes |= {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
        for c in kl.all_containers(pod):
            for mount in c.get("volumeMounts") or []:
                assert mount["name"] in volumes, f"{name}/{c['name']}: volume {mount['name']}"
    for service in of_kind(resources, "Service"):
        targets = [
            w
            for w in workloads(resources)
            if selects({"matchLabels": service["spec"]["selector"]}, template_labels(w))
        ]
        assert len(targets) == 1, f"Service {service['metadata']['name']} selects {len(targets)}"
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in container_ports(targets[0])
    qdrant = named(resources, "StatefulSet", "qdrant")
    headless = named(resources, "Service", qdrant["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True


def test_generated_config_map_name_is_hashed_and_referenced() -> None:
    resources = rendered("dev")
    config_maps = [c["metadata"]["name"] for c in of_kind(resources, "ConfigMap")]
    hashed = [n for n in config_maps if re.fullmatch(r"orchestrator-config-[0-9a-z]{10}", n)]
    assert len(hashed) == 1
    deployment = named(resources, "Deployment", "orchestrator")
    assert ("ConfigMap", hashed[0]) in kl.pod_references(deployment)
    for generated in ("orchestrator-grpc-tls", "vidsearch-auth-tokens"):
        names = [s["metadata"]["name"] for s in of_kind(resources, "Secret")]
        hashed = [n for n in names if re.fullmatch(rf"{generated}-[0-9a-z]{{10}}", n)]
        assert len(hashed) == 1 and ("Secret", hashed[0]) in kl.pod_references(deployment)


# -- the orchestrator's configuration, loaded by the real config class ----------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_orchestrator_env_and_config_file_load_into_vidsearch_config(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vidsearch.config import load_config

    resources = rendered(overlay)
    deployment = named(resources, "Deployment", "orchestrator")
    c = container(deployment, "orchestrator")
    # The config file: command --config path -> mount -> generated ConfigMap key.
    config_path = Path(c["command"][c["command"].index("--config") + 1])
    mount = next(m for m in c["volumeMounts"] if Path(m["mountPath"]) == config_path.parent)
    volume = next(v for v in kl.pod_spec(deployment)["volumes"] if v["name"] == mount["name"])
    config_map = named(resources, "ConfigMap", volume["configMap"]["name"])
    local = tmp_path / "config.yaml"
    local.write_text(config_map["data"][config_path.name])
    for key in list(os.environ):
        if key.startswith("VIDSEARCH_"):
            monkeypatch.delenv(key)
    for key, value in env_of(c).items():
        monkeypatch.setenv(key, value)
    config = load_config(local)

    ports = container_ports(deployment)
    assert config.server.host == "0.0.0.0"
    assert config.server.port == ports["grpc"]
    assert (
        config.server.health_port == ports["health"] == probe_port(deployment, c["readinessProbe"])
    )
    if overlay == "gpu":  # production: TLS on the API port from the mounted Secret
        tls_mount = next(m for m in c["volumeMounts"] if m["name"] == "grpc-tls")
        assert config.server.tls_cert_file is not None and config.server.tls_key_file is not None
        assert config.server.tls_cert_file.parent == Path(tls_mount["mountPath"])
    assert config.server.metrics_port == ports["metrics"]
    # Connections age out (clients re-resolve and reach new pods); calls in flight at the
    # GOAWAY get longer than the slowest search may take.
    assert config.server.max_connection_age_s is not None
    assert config.server.max_connection_age_grace_s is not None
    assert (
        config.server.max_connection_age_grace_s
        >= config.media.decode_timeout_s + config.inference.timeout_s
    )
    writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
    assert str(config.server.upload_dir) in writable

    assert config.inference.backend == "triton"
    host, port = config.inference.triton_url.split(":")
    triton = named(resources, "Service", host)
    triton_port = next(p for p in triton["spec"]["ports"] if p["port"] == int(port))
    assert triton_port["name"] == "grpc"
    assert (
        container_ports(named(resources, "Deployment", "triton"))[triton_port["targetPort"]] == 8001
    )

    if overlay == "gpu":  # TLS to both backends, verified with the mounted CA
        tls_mount = next(m for m in c["volumeMounts"] if m["name"] == "grpc-tls")
        for ca in (config.catalog.tls_ca_file, config.inference.triton_tls_ca_file):
            assert ca is not None and ca.parent == Path(tls_mount["mountPath"])
        assert config.catalog.url.startswith("https://")
        key = next(e for e in c["env"] if e["name"] == "VIDSEARCH_CATALOG__API_KEY")
        assert key["valueFrom"]["secretKeyRef"] == {"name": "qdrant-api-key", "key": "api-key"}

    assert config.catalog.backend == "qdrant_cluster"
    url = urllib.parse.urlsplit(config.catalog.url)
    qdrant = named(resources, "Service", url.hostname or "")
    assert url.port in {p["port"] for p in qdrant["spec"]["ports"]}
    qdrant_replicas = named(resources, "StatefulSet", "qdrant")["spec"]["replicas"]
    assert 1 <= config.catalog.replication_factor <= qdrant_replicas
    if overlay == "gpu":
        assert config.catalog.replication_factor == 2 and qdrant_replicas == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_qdrant_runs_as_a_cluster_with_persistent_storage(overlay: str) -> None:
    qdrant = named(rendered(overlay), "StatefulSet", "qdrant")
    c = container(qdrant, "qdrant")
    assert env_of(c)["QDRANT__CLUSTER__ENABLED"] == "true"
    assert (
        env_of(c)["QDRANT__CLUSTER__P2P__PORT"] == "6335" and container_ports(qdrant)["p2p"] == 6335
    )
    claims = {t["metadata"]["name"] for t in qdrant["spec"]["volumeClaimTemplates"]}
    storage = next(m for m in c["volumeMounts"] if m["mountPath"] == "/qdrant/storage")
    assert storage["name"] in claims
    headless = named(rendered(overlay), "Service", "qdrant-headless")
    assert 6335 in {p["port"] for p in headless["spec"]["ports"]}
    client = named(rendered(overlay), "Service", "qdrant")
    assert 6335 not in {p["port"] for p in client["spec"]["ports"]}, "p2p stays internal"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_headless_service_lets_clients_balance_over_every_orchestrator(overlay: str) -> None:
    resources = rendered(overlay)
    headless = named(resources, "Service", "orchestrator-headless")
    deployment = named(resources, "Deployment", "orchestrator")
    assert headless["spec"]["clusterIP"] == "None"
    assert selects({"matchLabels": headless["spec"]["selector"]}, template_labels(deployment))
    (port,) = headless["spec"]["ports"]
    assert container_ports(deployment)[port["targetPort"]] == 50051 == port["port"]
    # Only ready pods: DNS must not hand clients a pod that is not serving.
    assert not headless["spec"].get("publishNotReadyAddresses")
    if overlay == "gpu":  # TLS: the certificate names what clients dial
        names = named(resources, "Certificate", "orchestrator-grpc-tls")["spec"]["dnsNames"]
        assert f"orchestrator-headless.{NAMESPACE}.svc.cluster.local" in names


def _secret_mount(workload: Resource, c: dict[str, Any], path: str) -> tuple[str, dict]:
    """The Secret name behind the volume mounted at the folder of ``path``, and the mount."""
    folder = str(Path(path).parent)
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == folder)
    volume = next(v for v in kl.pod_spec(workload)["volumes"] if v["name"] == mount["name"])
    return volume["secret"]["secretName"], mount


def test_backends_speak_tls_and_qdrant_wants_keys_in_production() -> None:
    resources = rendered("gpu")
    certificates = {c["spec"]["secretName"]: c["spec"] for c in of_kind(resources, "Certificate")}
    issuers = {json.dumps(spec["issuerRef"], sort_keys=True) for spec in certificates.values()}
    assert len(issuers) == 1, "one CA: each Secret's ca.crt verifies the others"
    orchestrator = named(resources, "Deployment", "orchestrator")
    o_env = env_of(container(orchestrator, "orchestrator"))
    qdrant_host = urllib.parse.urlsplit(o_env["VIDSEARCH_CATALOG__URL"]).hostname
    triton_host = o_env["VIDSEARCH_INFERENCE__TRITON_URL"].rsplit(":", 1)[0]

    qdrant = named(resources, "StatefulSet", "qdrant")
    q = container(qdrant, "qdrant")
    q_env = env_of(q)
    assert q_env["QDRANT__SERVICE__ENABLE_TLS"] == "true"
    secret, mount = _secret_mount(qdrant, q, q_env["QDRANT__TLS__CERT"])
    assert mount.get("readOnly")
    assert secret == _secret_mount(qdrant, q, q_env["QDRANT__TLS__KEY"])[0]
    assert qdrant_host in certificates[secret]["dnsNames"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert q[probe]["httpGet"]["scheme"] == "HTTPS"
    keys = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in q["env"] if "valueFrom" in e
            and "secretKeyRef" in e["valueFrom"]}  # fmt: skip
    assert keys["QDRANT__SERVICE__API_KEY"] == {"name": "qdrant-api-key", "key": "api-key"}
    assert keys["QDRANT__SERVICE__READ_ONLY_API_KEY"]["key"] == "read-only-api-key"

    triton = named(resources, "Deployment", "triton")
    t = container(triton, "triton")
    flags = dict(a.split("=", 1) for a in t["args"] if a.startswith("--grpc-"))
    assert flags["--grpc-use-ssl"] == "true"
    secret, _ = _secret_mount(triton, t, flags["--grpc-server-cert"])
    assert secret == _secret_mount(triton, t, flags["--grpc-server-key"])[0]
    assert triton_host in certificates[secret]["dnsNames"]

    # Prometheus scrapes Qdrant's /metrics over TLS with the read-only key.
    (endpoint,) = named(resources, "PodMonitor", "qdrant")["spec"]["podMetricsEndpoints"]
    assert endpoint["scheme"] == "https" and endpoint["tlsConfig"]["serverName"] == qdrant_host
    assert endpoint["authorization"]["credentials"]["key"] == "read-only-api-key"
    # No API key or literal secret in any env value.
    for r in resources:
        for c in kl.all_containers(kl.pod_spec(r) or {}):
            for e in c.get("env") or []:
                assert not ("API_KEY" in e["name"] and "value" in e), e["name"]


def test_dev_overlay_talks_plaintext_without_keys() -> None:
    """Dev has no cert-manager and no operator Secrets: nothing of the above."""
    resources = rendered("dev")
    assert not of_kind(resources, "Certificate")
    dump = json.dumps(resources)
    assert "qdrant-api-key" not in dump and "--grpc-use-ssl" not in dump


# -- network paths --------------------------------------------------------------------------
@dataclass(frozen=True)
class Peer:
    """A pod as NetworkPolicies see it."""

    namespace: str
    labels: tuple[tuple[str, str], ...]

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def _peer(namespace: str, **labels: str) -> Peer:
    return Peer(namespace, tuple(sorted(labels.items())))


def _peer_matches(rule_peer: dict[str, Any], policy_namespace: str, peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        return False  # only pods are modelled
    ns_selector = rule_peer.get("namespaceSelector")
    if ns_selector is None:
        ns_ok = peer.namespace == policy_namespace
    else:
        ns_ok = selects(ns_selector, {"kubernetes.io/metadata.name": peer.namespace})
    pod_selector = rule_peer.get("podSelector")
    return ns_ok and (pod_selector is None or selects(pod_selector, peer.label_map))


def _side_allows(
    policies: list[Resource], direction: str, subject: Peer, other: Peer, port: int, protocol: str
) -> bool:
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == subject.namespace
        and selects(p["spec"]["podSelector"], subject.label_map)
        and direction in p["spec"]["policyTypes"]
    ]
    if not selecting:
        return True  # not isolated in this direction
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(
                _peer_matches(p, policy["metadata"]["namespace"], other) for p in peers
            )
            ports = rule.get("ports")
            port_ok = not ports or any(
                p.get("protocol", "TCP") == protocol and p.get("port") in (None, port)
                for p in ports
            )
            if peer_ok and port_ok:
                return True
    return False


def allowed(
    policies: list[Resource], src: Peer, dst: Peer, port: int, protocol: str = "TCP"
) -> bool:
    """Whether NetworkPolicies let ``src`` open ``port`` on ``dst``."""
    return _side_allows(policies, "Egress", src, dst, port, protocol) and _side_allows(
        policies, "Ingress", dst, src, port, protocol
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_needed_paths(overlay: str) -> None:
    resources = rendered(overlay)
    policies = of_kind(resources, "NetworkPolicy")
    for policy in policies:
        for rule in (policy["spec"].get("ingress") or []) + (policy["spec"].get("egress") or []):
            assert all(isinstance(p["port"], int) for p in rule.get("ports") or [])
    pods = {
        w["metadata"]["name"]: _peer(NAMESPACE, **template_labels(w)) for w in workloads(resources)
    }
    backup_job = named(resources, "CronJob", "catalog-backup")["spec"]["jobTemplate"]["spec"]
    pods["catalog-backup"] = _peer(NAMESPACE, **backup_job["template"]["metadata"]["labels"])
    orchestrator, triton, qdrant = pods["orchestrator"], pods["triton"], pods["qdrant"]
    backup = pods["catalog-backup"]
    prometheus = _peer("monitoring", **{"app.kubernetes.io/name": "prometheus"})
    client = _peer("apps", **{"vidsearch.io/client": "true"})
    stranger = _peer("apps", app="other")
    dns = _peer("kube-system", **{"k8s-app": "kube-dns"})

    must = [
        (client, orchestrator, 50051),
        (prometheus, orchestrator, 9100),
        (orchestrator, triton, 8001),
        (orchestrator, qdrant, 6333),
        (orchestrator, qdrant, 6334),
        (qdrant, qdrant, 6335),
        (prometheus, triton, 8002),
        (prometheus, qdrant, 6333),
        (backup, qdrant, 6333),
        (backup, qdrant, 6334),
    ]
    must_not = [
        (stranger, orchestrator, 50051),
        (prometheus, orchestrator, 50051),
        (client, triton, 8001),
        (client, qdrant, 6333),
        (stranger, triton, 8002),
        (orchestrator, qdrant, 6335),
        (orchestrator, stranger, 443),
        (triton, qdrant, 6333),
        (triton, stranger, 443),
        (qdrant, triton, 8001),
        (qdrant, stranger, 443),
        (triton, orchestrator, 50051),
        (backup, qdrant, 6335),
        (backup, triton, 8001),
        (backup, orchestrator, 50051),
        (backup, stranger, 443),
        (client, backup, 8080),
        (orchestrator, backup, 8080),
    ]
    for src, dst, port in must:
        assert allowed(policies, src, dst, port), f"{src} -> {dst}:{port} should be allowed"
        if dst.namespace == NAMESPACE and dst != backup:  # the port is really served there
            workload = next(w for w in workloads(resources) if template_labels(w) == dst.label_map)
            assert port in container_ports(workload)
    for src, dst, port in must_not:
        assert not allowed(policies, src, dst, port), f"{src} -> {dst}:{port} should be denied"
    for pod in pods.values():
        assert allowed(policies, pod, dns, 53, "UDP") and allowed(policies, pod, dns, 53, "TCP")


# -- autoscaling ----------------------------------------------------------------------------
HPA_METRICS = {  # Deployment -> the adapter metric its HPA scales on, and its series
    "orchestrator": ("vidsearch_inflight_requests", "vidsearch_inflight_requests"),
    "triton": ("triton_queue_ms_per_request", "nv_inference_queue_duration_us"),
}


def test_hpas_scale_orchestrator_and_triton_on_adapter_metrics() -> None:
    resources = rendered("gpu")
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in of_kind(resources, "HorizontalPodAutoscaler")
    }
    assert set(hpas) == set(HPA_METRICS)
    adapter = {rule["name"]["as"]: rule for rule in pr.adapter_rules()}
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        deployment = named(resources, "Deployment", name)
        assert "replicas" not in deployment["spec"], f"the HPA owns {name}'s replica count"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        pods_metrics = [
            m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"
        ]
        metric, series = HPA_METRICS[name]
        assert metric in pods_metrics and set(pods_metrics) <= set(adapter)
        assert pr.series_name(adapter[metric]["seriesQuery"]) == series
        if any(m["type"] == "Resource" for m in hpa["spec"]["metrics"]):  # needs requests
            assert container(deployment, name)["resources"]["requests"]["cpu"]
    # Triton: never below 2 (one may be drained, PDB), and it scales before the queue-time
    # alert (50 ms) fires.
    triton = hpas["triton"]["spec"]
    assert triton["minReplicas"] >= 2
    (queue,) = [m["pods"]["target"] for m in triton["metrics"] if m["type"] == "Pods"]
    alert = next(
        r for g in pr.prometheus_rule_groups(resources)["groups"] for r in g["rules"]
        if r.get("alert") == "TritonQueueTimeHigh"
    )  # fmt: skip
    alert_ms = float(re.search(r">\s*([0-9.e]+)", alert["expr"]).group(1)) / 1000  # type: ignore[union-attr]
    assert queue["type"] == "AverageValue" and float(queue["averageValue"]) < alert_ms


# -- every query names real metrics and real label values -----------------------------------
def _exposed_metric_names() -> set[str]:
    from vidsearch import metrics

    names: set[str] = set()
    for family in metrics.REGISTRY.collect():
        suffixes = {
            "histogram": ("_bucket", "_sum", "_count"),
            "counter": ("_total",),
        }.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    return names


def _all_queries() -> Iterator[str]:
    for group in pr.prometheus_rule_groups(rendered("gpu"))["groups"]:
        yield from (r["expr"] for r in group["rules"])
    yield from (pr.render_adapter_query(rule) for rule in pr.adapter_rules())
    yield from (expr for _, expr in pr.dashboard_queries())


def test_queries_use_metrics_and_labels_the_orchestrator_exposes() -> None:
    import grpc
    from vidsearch_client.v1 import vidsearch_pb2

    exposed = _exposed_metric_names()
    methods = {m.name for m in vidsearch_pb2.DESCRIPTOR.services_by_name["VideoSearch"].methods}
    codes = {code.name for code in grpc.StatusCode}
    used = 0
    for query in _all_queries():
        for name in re.findall(r"\bvidsearch_[a-z_]+\b", query):
            assert name in exposed, f"{name} is not exposed by vidsearch.metrics: {query}"
            used += 1
        for method in re.findall(r'method="([^"]+)"', query):
            assert method in methods, query
        for alternatives in re.findall(r'code=~?"([^"]+)"', query):
            assert set(alternatives.split("|")) <= codes, query
        for stage in re.findall(r'\bstage=~?"([^"]+)"', query):
            assert set(stage.split("|")) <= {"decode", "encode", "catalog"}, query
    assert used > 10
    stage_panels = [e for t, e in pr.dashboard_queries() if "by stage" in t]
    assert stage_panels and all("vidsearch_stage_seconds_bucket" in e for e in stage_panels)
    assert all(re.search(r"sum by \(le, [^)]*stage\)", e) for e in stage_panels)


def test_dashboard_covers_rpcs_shedding_fallback_and_triton() -> None:
    """A panel for each thing an operator asks about, on the metrics that answer it."""
    panels = pr.dashboard_queries()
    exprs = [e for _, e in panels]

    def panel_with(*needles: str) -> list[str]:
        return [t for t, e in panels if all(n in e for n in needles)]

    # Every RPC: per-method latency and rate panels with no method filter.
    for metric in ("vidsearch_rpc_seconds_bucket", "vidsearch_rpc_total"):
        per_method = [
            e for e in exprs if metric in e and re.search(r"by \([^)]*\bmethod\b", e)
            and "method=" not in e
        ]  # fmt: skip
        assert per_method, f"no per-method panel over {metric}"
    assert panel_with('code="RESOURCE_EXHAUSTED"', "by (method)")
    assert panel_with("vidsearch_stage_rejected_total", "stage, reason")
    assert panel_with("vidsearch_stage_queued") and panel_with("vidsearch_stage_in_flight")
    assert panel_with("vidsearch_inference_fallback_active")
    assert panel_with("vidsearch_inference_fallback_total")
    assert panel_with("nv_inference_count", "nv_inference_exec_count")  # batch size
    assert panel_with("nv_inference_request_failure", "reason")
    assert panel_with("nv_inference_queue_duration_us")
    ids = [p["id"] for p in json.loads(pr.DASHBOARD.read_text())["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_dashboard_config_map_is_labelled_for_the_grafana_sidecar() -> None:
    dashboard = named(rendered("gpu"), "ConfigMap", "vidsearch-grafana-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    content = json.loads(dashboard["data"]["vidsearch.json"])
    assert content["uid"] == "vidsearch-overview" and content["panels"]


# -- promtool and a real Prometheus ---------------------------------------------------------
def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed ({APT_HINT})")
    return path


def test_promtool_accepts_rules_adapter_and_dashboard_queries(tmp_path: Path) -> None:
    promtool = _need("promtool")
    files = pr.write_rule_files(rendered("gpu"), tmp_path)
    result = subprocess.run(
        [promtool, "check", "rules", *map(str, files)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "a:b", "expr": "sum(("}]}]})
    )
    rejected = subprocess.run(
        [promtool, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert rejected.returncode != 0, "promtool must reject invalid PromQL"


def test_promtool_unit_tests_of_the_alerts_pass(tmp_path: Path) -> None:
    """tests/k8s/promtool/*.test.yml: series in, alerts (labels and annotations) out."""
    promtool = _need("promtool")
    pr.write_rule_files(rendered("gpu"), tmp_path)
    tests = sorted((HERE / "promtool").glob("*.test.yml"))
    assert tests
    for test in tests:
        shutil.copy(test, tmp_path / test.name)
    result = subprocess.run(
        [promtool, "test", "rules", *(str(tmp_path / t.name) for t in tests)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set()
    for test in tests:
        for case in yaml.safe_load(test.read_text())["tests"]:
            tested |= {t["alertname"] for t in case.get("alert_rule_test") or []}
    for name in ("VidsearchOrchestratorAbsent", "TritonAbsent", "QdrantAbsent",
                 "VidsearchLoadShedding", "VidsearchStageRejecting",
                 "VidsearchInferenceFallback"):  # fmt: skip
        assert name in tested, f"{name} has no promtool unit test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read().decode())


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A real Prometheus on loopback scraping the real orchestrator metrics endpoint, with
    the PrometheusRule groups loaded; yields (base URL, metrics port)."""
    binary = _need("prometheus")
    from vidsearch import metrics

    metrics_server, metrics_port = metrics.start_metrics_http("127.0.0.1", 0)
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(pr.prometheus_rule_groups(rendered("gpu"))))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "orchestrator",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{metrics_port}"],
                        # What the ServiceMonitor adds in a cluster.
                        "labels": {"namespace": NAMESPACE, "pod": "orchestrator-test-0"},
                    }
                ],
            }
        ],
    }
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = _free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    f"prometheus did not start: {(tmp_path / 'prometheus.log').read_text()}"
                )
            time.sleep(0.2)
        yield base, metrics_port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        metrics.stop_metrics_http(metrics_server)


def test_real_prometheus_fires_slo_alerts_and_serves_the_hpa_metric(
    prometheus_server: tuple[str, int],
) -> None:
    from vidsearch import metrics

    base, _ = prometheus_server
    stop = threading.Event()

    def slow_failing_searches() -> None:
        # Over the 5 s budget (bucket 10-30 s) and failing: keeps counters rising while
        # Prometheus scrapes, so rate() has increases to see.
        while not stop.wait(0.1):
            for _ in range(5):
                metrics.RPC_SECONDS.labels(method="SearchByVideo").observe(12.0)
                metrics.RPC_TOTAL.labels(method="SearchByVideo", code="INTERNAL").inc()
                metrics.STAGE_SECONDS.labels(pipeline="search_keyframe", stage="decode").observe(
                    11.0
                )
                metrics.RPC_TOTAL.labels(method="SearchByText", code="RESOURCE_EXHAUSTED").inc()
                metrics.STAGE_REJECTED.labels(stage="decode", reason="queue_full").inc()
                metrics.INFERENCE_FALLBACK.labels(model="frame_encoder").inc()

    inflight = metrics.INFLIGHT.labels(method="SearchByVideo")
    inflight.inc(3)
    metrics.INFERENCE_FALLBACK_ACTIVE.set(1)
    expected_inflight = sum(
        s.value
        for m in metrics.REGISTRY.collect()
        if m.name == "vidsearch_inflight_requests"
        for s in m.samples
    )
    thread = threading.Thread(target=slow_failing_searches, daemon=True)
    thread.start()
    try:
        wanted = {"VidsearchSearchLatencyHigh", "VidsearchErrorRatioHigh"}
        deadline = time.monotonic() + 60
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            alerts = _get_json(f"{base}/api/v1/alerts")["data"]["alerts"]
            states = {a["labels"]["alertname"]: a["state"] for a in alerts}
            if wanted <= set(states):
                break
            time.sleep(0.5)
        assert wanted <= set(states), f"alerts seen: {states}"
        assert all(states[name] in ("pending", "firing") for name in wanted)
        assert "VidsearchOrchestratorDown" not in states and "QdrantDown" not in states

        # The adapter's query, as prometheus-adapter sends it for the HPA.
        rule = pr.adapter_rules()[0]
        query = pr.render_adapter_query(rule)
        result = _get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': query})}")
        vector = result["data"]["result"]
        assert [v["metric"] for v in vector] == [{"pod": "orchestrator-test-0"}]
        assert float(vector[0]["value"][1]) == pytest.approx(expected_inflight)

        # A per-stage dashboard panel sees the decode stage over 10 s.
        panel = next(e for t, e in pr.dashboard_queries() if t.startswith("p95 by stage"))
        result = _get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': panel})}")
        # Only the series this test fed: other tests in the same process observe other
        # pipelines, whose rates are NaN over the window.
        decode = [
            v
            for v in result["data"]["result"]
            if v["metric"].get("stage") == "decode"
            and v["metric"].get("pipeline", "search_keyframe") == "search_keyframe"
        ]
        assert decode and float(decode[0]["value"][1]) > 10

        # The load-shedding and fallback panels see what the server counts.
        def panel(title: str) -> list[dict[str, Any]]:
            """Non-zero series of every query of the panel."""
            found: list[dict[str, Any]] = []
            for expr in (e for t, e in pr.dashboard_queries() if t == title):
                query = urllib.parse.urlencode({"query": expr})
                found += _get_json(f"{base}/api/v1/query?{query}")["data"]["result"]
            return [v for v in found if float(v["value"][1]) > 0]

        shed = panel("Calls turned away (RESOURCE_EXHAUSTED) by method")
        assert {v["metric"].get("method") for v in shed} >= {"SearchByText"}
        rejected = panel("Rejections at stage limits (stage, reason)")
        assert {"stage": "decode", "reason": "queue_full"} in [v["metric"] for v in rejected]
        fallback = panel("Inference fallback")
        assert {"pod": "orchestrator-test-0"} in [v["metric"] for v in fallback]
        assert {"model": "frame_encoder"} in [v["metric"] for v in fallback]
    finally:
        stop.set()
        thread.join(timeout=5)
        inflight.dec(3)
        metrics.INFERENCE_FALLBACK_ACTIVE.set(0)
