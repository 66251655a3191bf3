"""Render ``k8s/`` overlays with the real kustomize and walk the pod templates they hold.

``kubectl kustomize`` (kubectl embeds Kustomize; 5.5 on this machine image) or, where
only the standalone binary is installed, ``kustomize build``: the same renderer
``kubectl apply -k`` uses, so a test reads what a cluster would receive.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})


def command() -> list[str]:
    """The kustomize build command line, without its directory argument."""
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    raise FileNotFoundError(
        "neither kubectl nor kustomize is on PATH: install kubectl (it embeds kustomize)"
    )


def render(directory: str | Path) -> list[Resource]:
    """The Kubernetes objects the kustomization in ``directory`` builds."""
    done = subprocess.run(
        [*command(), str(directory)], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"kustomize build {directory} failed:\n{done.stderr}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc is not None]


def group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    """The pod spec inside a workload (or Pod/CronJob), else None."""
    kind = resource.get("kind")
    spec: dict[str, Any] = resource.get("spec") or {}
    if kind == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    if kind in WORKLOAD_KINDS or kind == "CronJob":
        found: dict[str, Any] | None = spec.get("template", {}).get("spec")
        return found
    return spec if kind == "Pod" else None


def all_containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Init containers, then containers, of a pod spec."""
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


def pod_references(resource: Resource) -> list[tuple[str, str]]:
    """(kind, name) of every ConfigMap/Secret the resource's pod template refers to."""
    spec = pod_spec(resource)
    if spec is None:
        return []
    found: list[tuple[str, str]] = []
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            found.append(("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume:
            found.append(("Secret", volume["secret"]["secretName"]))
        for source in (volume.get("projected") or {}).get("sources") or []:
            for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                if key in source:
                    found.append((kind, source[key]["name"]))
    found += [("Secret", pull["name"]) for pull in spec.get("imagePullSecrets") or []]
    for container in all_containers(spec):
        for env_from in container.get("envFrom") or []:
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in env_from:
                    found.append((kind, env_from[key]["name"]))
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if key in source:
                    found.append((kind, source[key]["name"]))
    return found


OVERLAYS = Path(__file__).resolve().parents[2] / "k8s" / "overlays"


@functools.cache
def _rendered(overlay: str) -> tuple[Resource, ...]:
    return tuple(render(OVERLAYS / overlay))


def rendered(overlay: str) -> list[Resource]:
    """A fresh copy of an overlay's resources (rendered once per test run; tests may not
    leak mutations into each other)."""
    return copy.deepcopy(list(_rendered(overlay)))


def named(resources: list[Resource], kind: str, name: str) -> Resource:
    """The one resource of that kind and name."""
    hits = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected one {kind}/{name}, found {len(hits)}"
    return hits[0]
