"""The nightly catalog backup CronJob (k8s/base/catalog-backup.yaml), rendered and run.

The CronJob's shell script is run here as the pod would run it, with the real
``vidsearch catalog backup`` on PATH, against a small qdrant-client local catalog instead
of the cluster (the only override: the catalog backend and path): it writes checked
archives into the backup folder and keeps the newest BACKUP_KEEP of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import Any

import kustomize as kl  # tests/k8s is on pytest's pythonpath
import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # local mode: "no effect" notes

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OVERLAYS = ("dev", "gpu")
Resource = dict[str, Any]


def named(overlay: str, kind: str, name: str) -> Resource:
    return kl.named(kl.rendered(overlay), kind, name)


def backup_container(overlay: str) -> tuple[Resource, dict[str, Any], dict[str, Any]]:
    cronjob = named(overlay, "CronJob", "catalog-backup")
    pod = kl.pod_spec(cronjob)
    (container,) = pod["containers"]
    return cronjob, pod, container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}


def config_text(overlay: str, pod: dict[str, Any], container: dict[str, Any]) -> str:
    """The config file the container reads at $VIDSEARCH_CONFIG, from its ConfigMap."""
    path = PurePosixPath(env_of(container)["VIDSEARCH_CONFIG"])
    mounts = container["volumeMounts"]
    mount = next(m for m in mounts if PurePosixPath(m["mountPath"]) == path.parent)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    config_map = named(overlay, "ConfigMap", volume["configMap"]["name"])
    return str(config_map["data"][path.name])


def _catalog_config(
    overlay: str, pod: dict[str, Any], c: dict[str, Any], tmp: Path, mp: pytest.MonkeyPatch
) -> Any:
    from vidsearch.config import load_config

    with mp.context() as env:
        for key in [k for k in os.environ if k.startswith("VIDSEARCH_")]:
            env.delenv(key)
        for key, value in env_of(c).items():
            if key.startswith("VIDSEARCH_") and key != "VIDSEARCH_CONFIG":
                env.setenv(key, value)
        file = tmp / "config.yaml"
        file.write_text(config_text(overlay, pod, c))
        return load_config(file).catalog


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_backup_reads_the_catalog_the_orchestrator_serves(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, pod, c = backup_container(overlay)
    orchestrator = named(overlay, "Deployment", "orchestrator")
    o_pod = kl.pod_spec(orchestrator)
    (o_c,) = [x for x in o_pod["containers"] if x["name"] == "orchestrator"]
    command = o_c["command"]
    o_env = {**env_of(o_c), "VIDSEARCH_CONFIG": command[command.index("--config") + 1]}
    o_values = {**o_c, "env": [{"name": k, "value": v} for k, v in o_env.items()]}
    ours = _catalog_config(overlay, pod, c, tmp_path, monkeypatch)
    theirs = _catalog_config(overlay, o_pod, o_values, tmp_path, monkeypatch)
    for field in ("backend", "url", "prefer_grpc", "collection_prefix"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert ours.backend == "qdrant_cluster"
    assert (ours.tls_ca_file is None) == (theirs.tls_ca_file is None)  # TLS where it is on
    # The Qdrant API key from the same Secret (the backup may use the read-only key).
    secret_env = {e["name"]: e["valueFrom"] for e in o_c.get("env") or [] if "valueFrom" in e}
    ours_from = {e["name"]: e["valueFrom"] for e in c.get("env") or [] if "valueFrom" in e}
    for name, source in secret_env.items():
        if name.startswith("VIDSEARCH_CATALOG__"):
            mine = ours_from[name]["secretKeyRef"]
            assert mine["name"] == source["secretKeyRef"]["name"], name
            assert mine["key"] in (source["secretKeyRef"]["key"], "read-only-api-key"), name
    assert set(ours_from) <= set(secret_env), "no secret the orchestrator does not use"
    if ours.tls_ca_file is not None:  # only the CA reaches the backup pod, not a key
        folder = str(PurePosixPath(str(ours.tls_ca_file)).parent)
        mount = next(m for m in c["volumeMounts"] if m["mountPath"] == folder)
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        assert [i["key"] for i in volume["secret"]["items"]] == ["ca.crt"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_backup_writes_to_its_claim_one_run_at_a_time(overlay: str) -> None:
    cronjob, pod, c = backup_container(overlay)
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert pod["restartPolicy"] == "Never" and spec["jobTemplate"]["spec"]["backoffLimit"] >= 1
    backup_dir = env_of(c)["BACKUP_DIR"]
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == backup_dir)
    assert not mount.get("readOnly")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    claim = named(overlay, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert int(env_of(c)["BACKUP_KEEP"]) >= 2
    # The pod may write its claim (fsGroup) and nothing else but /tmp.
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
    assert writable == {backup_dir, "/tmp"}


def _filled_local_catalog(path: Path) -> None:
    from vidsearch.catalog import HASH_BITS, KeyFrame, VideoRecord, open_catalog
    from vidsearch.config import CatalogConfig

    rng = np.random.default_rng(0)

    def code() -> np.ndarray:
        return np.where(rng.random(HASH_BITS) < 0.5, -1.0, 1.0).astype(np.float32)

    catalog = open_catalog(
        CatalogConfig(backend="qdrant_local", path=path), texture_dim=8, embedding_dim=None
    )
    try:
        for i in range(3):
            frames = [KeyFrame(float(t), code(), rng.normal(size=8).astype(np.float32))
                      for t in range(2)]  # fmt: skip
            catalog.upsert_video(VideoRecord(
                video_id=f"v{i}", hash_bits=code(), texture=rng.normal(size=8).astype(np.float32),
                duration_s=2.0, model_version=1, keyframes=frames, title=f"v{i}",
            ))  # fmt: skip
    finally:
        catalog.close()


def test_the_cronjob_script_writes_checked_archives_and_keeps_the_newest(
    tmp_path: Path,
) -> None:
    from vidsearch.catalog.snapshots import SnapshotReader

    vidsearch = shutil.which("vidsearch") or str(Path(sys.executable).parent / "vidsearch")
    if not Path(vidsearch).exists():
        pytest.skip("the vidsearch command is not installed next to this Python")
    _, pod, c = backup_container("gpu")
    assert c["command"] == ["/bin/sh", "-c"]
    script = c["args"][0]
    catalog = tmp_path / "catalog"
    _filled_local_catalog(catalog)
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "catalog-20000101T000000Z.tar.partial").write_bytes(b"left by a killed run")
    config = tmp_path / "config.yaml"
    config.write_text(config_text("gpu", pod, c))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VIDSEARCH_")},
        **env_of(c),
        "PATH": os.pathsep.join([str(Path(vidsearch).parent), os.environ.get("PATH", "")]),
        "VIDSEARCH_CONFIG": str(config),
        # The only change from the pod: a local catalog instead of the Qdrant cluster.
        "VIDSEARCH_CATALOG__BACKEND": "qdrant_local",
        "VIDSEARCH_CATALOG__PATH": str(catalog),
        "BACKUP_DIR": str(backups),
        "BACKUP_KEEP": "2",
    }
    written = []
    for run in range(3):
        if run:
            time.sleep(1.05)  # archive names have a one-second resolution
        done = subprocess.run(
            ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "backed up 3 videos and 6 key frames" in done.stdout
        written.append(max(backups.glob("catalog-*.tar")))
    left = sorted(backups.iterdir())
    assert left == written[1:], "the newest BACKUP_KEEP archives stay, the .partial goes"
    for archive in left:
        assert SnapshotReader(archive).manifest.points == {"videos": 3, "keyframes": 6}

    # A failing backup fails the Job (so it is retried and the alert can see it).
    env["VIDSEARCH_CATALOG__PATH"] = str(tmp_path / "empty")
    time.sleep(1.05)  # else, in the same second, the name collides before the catalog is read
    failed = subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=180
    )
    assert failed.returncode != 0 and "nothing to back up" in failed.stderr
    assert sorted(backups.iterdir()) == left
