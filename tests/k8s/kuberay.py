"""A structural check of KubeRay ``RayJob`` (ray.io/v1) objects, offline.

kubernetes-validate bundles no KubeRay schema and no CRD copy is on PyPI, so this is a JSON
Schema written from KubeRay's API types (ray-operator/apis/ray/v1: rayjob_types.go,
raycluster_types.go; json tags and +kubebuilder markers): every field KubeRay defines for
RayJobSpec, RayClusterSpec, HeadGroupSpec and WorkerGroupSpec, their types, enums and
required fields, and nothing else (a misspelt field fails). The pod templates inside
(head, each worker group, the submitter) are core ``PodTemplateSpec`` objects: they are
checked with kubernetes-validate --strict as ``PodTemplate`` objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema

_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_INT32 = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
_OBJECT = {"type": "object"}  # core types (PodTemplateSpec, Service, ...): checked elsewhere


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}  # fmt: skip


_WORKER_GROUP = _closed({
    "suspend": {"type": "boolean"},
    "groupName": {"type": "string", "minLength": 1},
    "replicas": _INT32,
    "minReplicas": _INT32,
    "maxReplicas": _INT32,
    "idleTimeoutSeconds": _INT32,
    "rayStartParams": _STR_MAP,
    "template": _OBJECT,
    "scaleStrategy": _closed({"workersToDelete": {"type": "array", "items": {"type": "string"}}}),
    "numOfHosts": _INT32,
}, ("groupName", "minReplicas", "maxReplicas", "rayStartParams", "template"))  # fmt: skip

_RAY_CLUSTER_SPEC = _closed({
    "suspend": {"type": "boolean"},
    "managedBy": {"enum": ["ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue"]},
    "autoscalerOptions": _OBJECT,
    "headServiceAnnotations": _STR_MAP,
    "enableInTreeAutoscaling": {"type": "boolean"},
    "gcsFaultToleranceOptions": _OBJECT,
    "headGroupSpec": _closed({
        "template": _OBJECT,
        "headService": _OBJECT,
        "enableIngress": {"type": "boolean"},
        "rayStartParams": _STR_MAP,
        "serviceType": {"enum": ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]},
    }, ("template", "rayStartParams")),
    "rayVersion": {"type": "string"},
    "workerGroupSpecs": {"type": "array", "items": _WORKER_GROUP},
}, ("headGroupSpec",))  # fmt: skip

RAYJOB_SCHEMA: dict[str, Any] = _closed({
    "apiVersion": {"const": "ray.io/v1"},
    "kind": {"const": "RayJob"},
    "metadata": _OBJECT,
    "spec": _closed({
        "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
        "backoffLimit": _INT32,
        "rayClusterSpec": _RAY_CLUSTER_SPEC,
        "submitterPodTemplate": _OBJECT,
        "metadata": _STR_MAP,
        "clusterSelector": _STR_MAP,
        "submitterConfig": _closed({"backoffLimit": _INT32}),
        "managedBy": {"enum": ["ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue"]},
        "deletionPolicy": {"enum": ["DeleteCluster", "DeleteWorkers", "DeleteSelf",
                                    "DeleteNone"]},
        "entrypoint": {"type": "string"},
        "runtimeEnvYAML": {"type": "string"},
        "jobId": {"type": "string"},
        "submissionMode": {"enum": ["K8sJobMode", "HTTPMode", "InteractiveMode"]},
        "entrypointResources": {"type": "string"},
        "entrypointNumCpus": {"type": "number"},
        "entrypointNumGpus": {"type": "number"},
        "ttlSecondsAfterFinished": _INT32,
        "shutdownAfterJobFinishes": {"type": "boolean"},
        "suspend": {"type": "boolean"},
    }),
}, ("apiVersion", "kind", "metadata", "spec"))  # fmt: skip


def pod_templates(rayjob: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, PodTemplateSpec) of the head, each worker group and the submitter."""
    spec = rayjob["spec"]
    cluster = spec.get("rayClusterSpec") or {}
    if "headGroupSpec" in cluster:
        yield "head", cluster["headGroupSpec"]["template"]
    for group in cluster.get("workerGroupSpecs") or []:
        yield f"worker group {group['groupName']}", group["template"]
    if "submitterPodTemplate" in spec:
        yield "submitter", spec["submitterPodTemplate"]


def validate_rayjob(rayjob: dict[str, Any]) -> int:
    """Raise on the first structural error (jsonschema or kubernetes-validate's
    ValidationError); the number of pod templates checked strictly."""
    import kubernetes_validate as kv

    jsonschema.validate(rayjob, RAYJOB_SCHEMA)
    checked = 0
    for where, template in pod_templates(rayjob):
        wrapped = {"apiVersion": "v1", "kind": "PodTemplate",
                   "metadata": {"name": where.replace(" ", "-")}, "template": template}
        try:
            kv.validate(wrapped, kv.latest_version(), strict=True)
        except kv.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            raise AssertionError(f"RayJob {where} pod template: {path}: {exc.message}") from exc
        checked += 1
    return checked
