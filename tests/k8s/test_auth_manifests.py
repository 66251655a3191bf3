"""Bearer-token auth is on in every rendered overlay, from digests in a read-only Secret.

Invariants: every orchestrator (a container running ``vidsearch serve``) has
``VIDSEARCH_SERVER__AUTH_TOKENS_FILE`` inside a read-only, non-optional Secret mount that
the real config class loads; the dev overlay's Secret holds digests only and the
published dev-only token works against it; no Secret in the gpu overlay carries a
token (the operator brings ``vidsearch-auth-tokens``), nor does any env value; and the
canary Deployment that ``scripts/canary.sh`` derives keeps auth on.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import kustomize as kl  # tests/k8s is on pytest's pythonpath
import pytest
import yaml

from vidsearch.service.auth import METHOD_SCOPES, TokenStore, token_digest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OVERLAYS = ("dev", "gpu")
ENV = "VIDSEARCH_SERVER__AUTH_TOKENS_FILE"
SECRET = "vidsearch-auth-tokens"
DEV_TOKEN = "dev-only-vidsearch-token"  # published in k8s/README.md, dev overlay only
SEARCH = next(m for m, s in METHOD_SCOPES.items() if s == "search")
Resource = dict[str, Any]


def orchestrators(resources: list[Resource]) -> list[tuple[Resource, dict[str, Any]]]:
    """(workload, container) of every container that runs the gRPC server."""
    found = []
    for r in resources:
        for c in (kl.pod_spec(r) or {}).get("containers", []):
            if c.get("command", [])[:2] == ["vidsearch", "serve"]:
                found.append((r, c))
    return found


def unhashed(name: str) -> str:
    """A generated name without kustomize's content-hash suffix."""
    return re.sub(r"-[0-9a-z]{10}$", "", name)


def secret_text(secret: Resource, key: str) -> str:
    if key in (secret.get("stringData") or {}):
        return str(secret["stringData"][key])
    return base64.b64decode(secret["data"][key]).decode()


def tokens_mount(workload: Resource, c: dict[str, Any]) -> tuple[PurePosixPath, dict, dict]:
    """The tokens file path, its volumeMount and its volume."""
    env = {e["name"]: e for e in c.get("env") or []}
    assert ENV in env and "value" in env[ENV], f"{workload['metadata']['name']}: no {ENV}"
    path = PurePosixPath(env[ENV]["value"])
    mounts = [
        m for m in c.get("volumeMounts") or [] if PurePosixPath(m["mountPath"]) == path.parent
    ]
    assert len(mounts) == 1, f"{path.parent} is not one volume mount"
    volumes = {v["name"]: v for v in kl.pod_spec(workload).get("volumes") or []}
    return path, mounts[0], volumes[mounts[0]["name"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_orchestrator_reads_tokens_from_a_read_only_secret(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vidsearch.config import VidsearchConfig

    found = orchestrators(kl.rendered(overlay))
    assert found, "no orchestrator container rendered"
    for workload, c in found:
        path, mount, volume = tokens_mount(workload, c)
        assert mount.get("readOnly") is True and "subPath" not in mount  # subPath: no rotation
        secret = volume.get("secret")
        assert secret is not None, "the tokens file must come from a Secret"
        assert unhashed(secret["secretName"]) == SECRET
        assert secret.get("optional") is not True  # a missing Secret stops the pod, not auth
        assert secret.get("defaultMode", 0o644) & 0o007 == 0  # not world-readable
        keys = {i["path"]: i["key"] for i in secret.get("items") or []}
        assert keys.get(path.name, path.name) == "tokens.yaml"
        monkeypatch.setenv(ENV, str(path))
        assert VidsearchConfig().server.auth_tokens_file == Path(str(path))


def test_dev_secret_holds_digests_and_the_published_dev_token_works(tmp_path: Path) -> None:
    resources = kl.rendered("dev")
    workload, c = orchestrators(resources)[0]
    _, _, volume = tokens_mount(workload, c)
    name = volume["secret"]["secretName"]
    secret = next(r for r in resources if r["kind"] == "Secret" and r["metadata"]["name"] == name)
    text = secret_text(secret, "tokens.yaml")
    assert DEV_TOKEN not in text and "DEV ONLY" in text
    (tmp_path / "tokens.yaml").write_text(text)
    store = TokenStore.load(tmp_path / "tokens.yaml")  # rejects keys that are not digests
    assert store.check(DEV_TOKEN, SEARCH).name == "dev-only"
    assert DEV_TOKEN in (ROOT / "k8s" / "README.md").read_text()


def test_gpu_overlay_carries_no_token_and_no_dev_credential() -> None:
    resources = kl.rendered("gpu")
    secrets = [r for r in resources if r["kind"] == "Secret"]
    assert not [s for s in secrets if unhashed(s["metadata"]["name"]) == SECRET]
    for s in secrets:
        keys = {*(s.get("data") or {}), *(s.get("stringData") or {})}
        assert not keys & {"token", "tokens.yaml", "VIDSEARCH_TOKEN"}, s["metadata"]["name"]
    dump = json.dumps(resources)
    assert DEV_TOKEN not in dump and token_digest(DEV_TOKEN) not in dump


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_env_value_is_a_literal_token(overlay: str) -> None:
    """Clients in the cluster read VIDSEARCH_TOKEN from a Secret (valueFrom), never a value."""
    for r in kl.rendered(overlay):
        for c in kl.all_containers(kl.pod_spec(r) or {}):
            for e in c.get("env") or []:
                if "TOKEN" in e["name"] and e["name"] != ENV:
                    assert "value" not in e, f"{r['metadata']['name']}: {e['name']} is literal"


def test_canary_deployment_keeps_auth_on() -> None:
    """Run the JSON rewrite `canary.sh start` pipes through on the production Deployment."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts/canary.sh"), "--dry-run", "--from", "1", "start"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    program = out[out.index("python3 -c '") + len("python3 -c '") : out.index("' | kubectl")]
    (stable,) = [w for w, _ in orchestrators(kl.rendered("gpu"))]
    stable["spec"]["replicas"] = 10  # as the HPA left it; the render has none
    canary = json.loads(
        subprocess.run(
            [sys.executable, "-c", program],
            input=json.dumps(stable), capture_output=True, text=True, check=True, timeout=30,
        ).stdout
    )  # fmt: skip
    assert canary["metadata"]["name"] == "orchestrator-canary"
    (c,) = [c for w, c in orchestrators([canary])]
    (stable_c,) = [c for w, c in orchestrators([stable])]
    assert tokens_mount(canary, c) == tokens_mount(stable, stable_c)
    assert yaml.safe_dump(c["volumeMounts"]) == yaml.safe_dump(stable_c["volumeMounts"])
