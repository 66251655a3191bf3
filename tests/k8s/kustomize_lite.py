"""A small kustomize renderer for exactly the features ``k8s/`` uses.

kubectl, kustomize and helm cannot be used offline here, so ``make k8s-check`` and
``tests/k8s/test_manifests.py`` render the overlays with this module. Supported
``kustomization.yaml`` fields (anything else is an error, never silently ignored):

- ``resources``: YAML files and directories holding a kustomization;
- ``namespace``: set on every namespaced resource of that kustomization;
- ``patches``: strategic-merge patches (maps merge, ``null`` deletes a key, the list
  merge keys of the Kubernetes kinds used here, ``$patch: delete`` on list items) and
  JSON 6902 patches (add, remove, replace, test), from ``path`` or inline ``patch``,
  with an optional ``target`` (group, version, kind, name, namespace);
- ``images`` (newName, newTag, digest) and ``replicas``;
- ``configMapGenerator`` / ``secretGenerator`` (files, literals, type, options with
  labels, annotations, disableNameSuffixHash): generated names get a content-hash
  suffix and references from pod templates are rewritten, like kustomize (same form of
  name, not the same digest).

Usage: ``python tests/k8s/kustomize_lite.py k8s/overlays/gpu [-o rendered.yaml]``.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "namespace",
        "resources",
        "patches",
        "images",
        "replicas",
        "configMapGenerator",
        "secretGenerator",
    }
)
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "ClusterIssuer",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "APIService",
    }
)
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
# Strategic-merge keys of the list fields our patches touch (from the Kubernetes API's
# x-kubernetes-patch-merge-key); every other list is replaced, as in Kubernetes.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
_GENERATED = "__kustomize_lite_generated__"  # internal marker, stripped from the output


class KustomizeError(Exception):
    """The kustomization uses something this renderer does not implement, or is wrong."""


def load_yaml_documents(path: Path) -> list[Resource]:
    """Every non-empty YAML document of ``path``."""
    with path.open(encoding="utf-8") as handle:
        docs = [doc for doc in yaml.safe_load_all(handle) if doc is not None]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise KustomizeError(f"{path}: every document must be a Kubernetes object")
    return docs


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    """The pod spec inside a workload (or Pod/CronJob), else None."""
    kind = resource.get("kind")
    spec: dict[str, Any] = resource.get("spec") or {}
    found: dict[str, Any] | None = None
    if kind in WORKLOAD_KINDS:
        found = spec.get("template", {}).get("spec")
    elif kind == "CronJob":
        found = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    elif kind == "Pod":
        found = spec
    return found


def all_containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Init containers, then containers, of a pod spec."""
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


# -- strategic merge ------------------------------------------------------------------------
def strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """Apply a strategic-merge ``patch`` to ``base`` (returns the merged value)."""
    if isinstance(patch, dict):
        if not isinstance(base, dict):
            base = {}
        directive = patch.get("$patch")
        if directive == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        if directive is not None:
            raise KustomizeError(f"unsupported $patch directive {directive!r} on {field!r}")
        merged = dict(base)
        for key, value in patch.items():
            if key.startswith("$"):
                raise KustomizeError(f"unsupported strategic-merge directive {key!r}")
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = strategic_merge(base.get(key), value, key)
        return merged
    if isinstance(patch, list):
        key = _list_merge_key(field, patch, base)
        if key is None or not isinstance(base, list):
            return [copy.deepcopy(item) for item in patch]
        return _merge_list(base, patch, key, field)
    return copy.deepcopy(patch)


def _list_merge_key(field: str, patch: list[Any], base: Any) -> str | None:
    if field == "ports":  # container ports merge on containerPort, Service ports on port
        sample = (base or []) + patch
        if sample and all(isinstance(p, dict) and "containerPort" in p for p in sample):
            return "containerPort"
        if sample and all(isinstance(p, dict) and "port" in p for p in sample):
            return "port"
        return None
    return _MERGE_KEYS.get(field)


def _merge_list(base: list[Any], patch: list[Any], key: str, field: str) -> list[Any]:
    merged = [copy.deepcopy(item) for item in base]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise KustomizeError(f"{field}: patch items need the merge key {key!r}")
        index = next((i for i, old in enumerate(merged) if old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
            continue
        if index is None:
            merged.append(strategic_merge({}, item, field))
        else:
            merged[index] = strategic_merge(merged[index], item, field)
    return merged


# -- JSON 6902 ------------------------------------------------------------------------------
def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer {path!r} must start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _container_and_key(doc: Any, parts: list[str], path: str) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as exc:
            raise KustomizeError(f"JSON patch path {path!r} does not exist") from exc
    return node, parts[-1]


def json6902(doc: Resource, operations: list[dict[str, Any]]) -> None:
    """Apply JSON 6902 ``operations`` (add, remove, replace, test) to ``doc`` in place."""
    for op in operations:
        name, path = op.get("op"), op.get("path", "")
        parent, key = _container_and_key(doc, _pointer(path), path)
        if name == "add":
            value = copy.deepcopy(op["value"])
            if isinstance(parent, list):
                parent.insert(len(parent) if key == "-" else int(key), value)
            else:
                parent[key] = value
        elif name in ("remove", "replace", "test"):
            try:
                current = parent[int(key)] if isinstance(parent, list) else parent[key]
            except (KeyError, IndexError, ValueError) as exc:
                raise KustomizeError(f"JSON patch {name}: {path!r} does not exist") from exc
            if name == "test" and current != op["value"]:
                raise KustomizeError(f"JSON patch test failed at {path!r}")
            if name == "remove":
                del parent[int(key) if isinstance(parent, list) else key]
            elif name == "replace":
                parent[int(key) if isinstance(parent, list) else key] = copy.deepcopy(op["value"])
        else:
            raise KustomizeError(f"unsupported JSON patch op {name!r}")


# -- transformers ---------------------------------------------------------------------------
def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _matches(resource: Resource, target: dict[str, Any]) -> bool:
    unknown = set(target) - {"group", "version", "kind", "name", "namespace"}
    if unknown:
        raise KustomizeError(f"unsupported patch target fields {sorted(unknown)}")
    group, version = _group_version(resource["apiVersion"])
    meta = resource.get("metadata", {})
    wanted = {
        "group": group,
        "version": version,
        "kind": resource["kind"],
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
    }
    return all(wanted[field] == value for field, value in target.items())


def _apply_patch(resources: list[Resource], entry: dict[str, Any], base_dir: Path) -> None:
    unknown = set(entry) - {"path", "patch", "target"}
    if unknown:
        raise KustomizeError(f"unsupported patch fields {sorted(unknown)}")
    if ("path" in entry) == ("patch" in entry):
        raise KustomizeError("a patch needs exactly one of 'path' and 'patch'")
    text = (base_dir / entry["path"]).read_text() if "path" in entry else entry["patch"]
    body = yaml.safe_load(text)
    target = entry.get("target")
    if target is None:
        if not isinstance(body, dict):
            raise KustomizeError("a JSON 6902 patch needs a target")
        group, version = _group_version(body["apiVersion"])
        target = {"group": group, "version": version, "kind": body["kind"]}
        target["name"] = body["metadata"]["name"]
    hits = [r for r in resources if _matches(r, target)]
    if not hits:
        raise KustomizeError(f"patch target {target} matches no resource")
    for resource in hits:
        if isinstance(body, list):
            json6902(resource, body)
        else:
            patch = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
            patch["metadata"] = {
                k: v for k, v in (patch.get("metadata") or {}).items() if k != "name"
            }
            merged = strategic_merge(resource, patch)
            resource.clear()
            resource.update(merged)


def _set_namespace(resources: list[Resource], namespace: str) -> None:
    for resource in resources:
        if resource["kind"] not in CLUSTER_SCOPED_KINDS:
            resource.setdefault("metadata", {})["namespace"] = namespace


def _set_replicas(resources: list[Resource], entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        hits = [
            r
            for r in resources
            if r["kind"] in ("Deployment", "StatefulSet", "ReplicaSet")
            and r["metadata"]["name"] == entry["name"]
        ]
        if not hits:
            raise KustomizeError(f"replicas: no workload named {entry['name']!r}")
        for resource in hits:
            resource["spec"]["replicas"] = int(entry["count"])


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` into its parts (a registry port is not a tag)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def _set_images(resources: list[Resource], entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        unknown = set(entry) - {"name", "newName", "newTag", "digest"}
        if unknown:
            raise KustomizeError(f"unsupported images fields {sorted(unknown)}")
        hits = 0
        for resource in resources:
            spec = pod_spec(resource)
            for container in all_containers(spec or {}):
                name, tag, digest = split_image(container["image"])
                if name != entry["name"]:
                    continue
                hits += 1
                name = entry.get("newName", name)
                tag = entry.get("newTag", tag)
                digest = entry.get("digest", digest)
                container["image"] = (
                    name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
                )
        if not hits:
            raise KustomizeError(f"images: no container uses {entry['name']!r}")


# -- generators -----------------------------------------------------------------------------
def _generated(entry: dict[str, Any], kind: str, base_dir: Path) -> Resource:
    allowed = {"name", "files", "literals", "options"} | ({"type"} if kind == "Secret" else set())
    unknown = set(entry) - allowed
    if unknown:
        raise KustomizeError(f"unsupported {kind} generator fields {sorted(unknown)}")
    data: dict[str, str] = {}
    for spec in entry.get("files", []):
        key, _, rel = spec.partition("=") if "=" in spec else (Path(spec).name, "", spec)
        data[key] = (base_dir / rel).read_text(encoding="utf-8")
    for literal in entry.get("literals", []):
        key, sep, value = literal.partition("=")
        if not sep:
            raise KustomizeError(f"literal {literal!r} is not key=value")
        data[key] = value
    options = entry.get("options", {})
    unknown = set(options) - {"labels", "annotations", "disableNameSuffixHash"}
    if unknown:
        raise KustomizeError(f"unsupported generator options {sorted(unknown)}")
    metadata: dict[str, Any] = {"name": entry["name"]}
    if options.get("labels"):
        metadata["labels"] = dict(options["labels"])
    if options.get("annotations"):
        metadata["annotations"] = dict(options["annotations"])
    resource: Resource = {"apiVersion": "v1", "kind": kind, "metadata": metadata}
    if kind == "Secret":
        resource["type"] = entry.get("type", "Opaque")
        resource["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        resource["data"] = data
    resource[_GENERATED] = not options.get("disableNameSuffixHash", False)
    return resource


def _content_hash(resource: Resource) -> str:
    content = {k: resource.get(k) for k in ("kind", "type", "data")}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:10]


def _reference_slots(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(kind, holder, field) of every ConfigMap/Secret name a pod spec refers to."""
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"], "name"
        if "secret" in volume:
            yield "Secret", volume["secret"], "secretName"
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                yield "ConfigMap", source["configMap"], "name"
            if "secret" in source:
                yield "Secret", source["secret"], "name"
    for pull in spec.get("imagePullSecrets") or []:
        yield "Secret", pull, "name"
    for container in all_containers(spec):
        for env_from in container.get("envFrom") or []:
            if "configMapRef" in env_from:
                yield "ConfigMap", env_from["configMapRef"], "name"
            if "secretRef" in env_from:
                yield "Secret", env_from["secretRef"], "name"
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "configMapKeyRef" in source:
                yield "ConfigMap", source["configMapKeyRef"], "name"
            if "secretKeyRef" in source:
                yield "Secret", source["secretKeyRef"], "name"


def pod_references(resource: Resource) -> list[tuple[str, str]]:
    """(kind, name) of every ConfigMap/Secret the resource's pod template refers to."""
    spec = pod_spec(resource)
    if spec is None:
        return []
    return [(kind, holder[field]) for kind, holder, field in _reference_slots(spec)]


def _finalize_generated(resources: list[Resource]) -> None:
    renames: dict[tuple[str, str | None, str], str] = {}
    for resource in resources:
        hashed = resource.pop(_GENERATED, None)
        if hashed:
            meta = resource["metadata"]
            new_name = f"{meta['name']}-{_content_hash(resource)}"
            renames[(resource["kind"], meta.get("namespace"), meta["name"])] = new_name
            meta["name"] = new_name
    for resource in resources:
        spec = pod_spec(resource)
        if spec is None:
            continue
        namespace = resource["metadata"].get("namespace")
        for kind, holder, field in _reference_slots(spec):
            holder[field] = renames.get((kind, namespace, holder[field]), holder[field])


# -- build ----------------------------------------------------------------------------------
def _build(directory: Path, seen: tuple[Path, ...] = ()) -> list[Resource]:
    directory = directory.resolve()
    if directory in seen:
        raise KustomizeError(f"kustomization cycle through {directory}")
    kfile = directory / "kustomization.yaml"
    if not kfile.is_file():
        raise KustomizeError(f"{directory} has no kustomization.yaml")
    kustomization = yaml.safe_load(kfile.read_text()) or {}
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise KustomizeError(f"{kfile}: unsupported fields {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources.extend(_build(path, (*seen, directory)))
        elif path.is_file():
            resources.extend(load_yaml_documents(path))
        else:
            raise KustomizeError(f"{kfile}: resource {entry!r} not found")
    for field, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for entry in kustomization.get(field, []):
            resources.append(_generated(entry, kind, directory))
    # Transformer order as in kustomize: patches, then namespace, replicas, images.
    for patch in kustomization.get("patches", []):
        _apply_patch(resources, patch, directory)
    if "namespace" in kustomization:
        _set_namespace(resources, kustomization["namespace"])
    _set_replicas(resources, kustomization.get("replicas", []))
    _set_images(resources, kustomization.get("images", []))
    return resources


def resource_id(resource: Resource) -> tuple[str, str, str | None, str]:
    """(group, kind, namespace, name): what must be unique in a rendered set."""
    group, _ = _group_version(resource["apiVersion"])
    meta = resource["metadata"]
    return group, resource["kind"], meta.get("namespace"), meta["name"]


def render(directory: str | Path) -> list[Resource]:
    """Render the kustomization in ``directory`` into a list of Kubernetes objects."""
    resources = _build(Path(directory))
    _finalize_generated(resources)
    seen: set[tuple[str, str, str | None, str]] = set()
    for resource in resources:
        rid = resource_id(resource)
        if rid in seen:
            raise KustomizeError(f"duplicate resource {rid}")
        seen.add(rid)
    return resources


def dump(resources: list[Resource]) -> str:
    """Multi-document YAML, like ``kustomize build``."""
    return yaml.safe_dump_all(resources, sort_keys=False, default_flow_style=False)


def main(argv: list[str] | None = None) -> int:
    """CLI: render one kustomization directory to stdout or a file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        text = dump(render(args.directory))
    except KustomizeError as exc:
        print(f"kustomize_lite: {exc}", file=sys.stderr)
        return 1
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
