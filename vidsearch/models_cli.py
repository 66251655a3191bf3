"""``vidsearch models``: roll model versions in and out of a running Triton (explicit mode).

    vidsearch models list   [--url HOST:GRPC_PORT] [--json]
    vidsearch models load   MODEL... [--version N] [--repository DIR]
    vidsearch models unload MODEL... [--version N]
    vidsearch models route  --version N [--url ...] [--write CONFIG.yaml]

A rollout: ``load`` version N+1 next to N (a config override whose version policy is
``specific: {versions: [N, N+1]}``, so both answer), move traffic with ``route`` (the
orchestrator pins ``inference.model_version``; a request may still ask for another
version through ``SearchOptions.model_version``), then ``unload`` N (a reload whose
policy lists only what remains, or a plain unload when nothing does). Codes of
different versions never mix: re-index before routing searches to a new version.

Overrides live in the server only: a plain ``load`` (or a restart) goes back to the
repository's config.pbtxt policy. So this is for one tritonserver in explicit mode; on
Kubernetes each Triton pod serves its models image (``--model-control-mode=none`` refuses
load/unload) and a rollout is a new image tag (k8s/README.md, "Model rollout").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vidsearch.cli_args import existing_dir
from vidsearch.contract.models import VIDEO_SEARCH_MODELS
from vidsearch.contract.repository_layout import CONFIG_FILE

# The models the orchestrator pins to ``inference.model_version``.
ORCHESTRATOR_MODELS = tuple(m.name for m in VIDEO_SEARCH_MODELS)
ENV_VERSION = "VIDSEARCH_INFERENCE__MODEL_VERSION"
DEFAULT_URL = os.environ.get("VIDSEARCH_INFERENCE__TRITON_URL", "localhost:8001")


class ModelControlError(RuntimeError):
    """The server refused a model-control request (message from Triton)."""


@dataclass(frozen=True)
class ModelState:
    """One row of Triton's repository index."""

    model: str
    version: int | None
    state: str
    reason: str


def _client(url: str) -> Any:
    import tritonclient.grpc as grpcclient

    return grpcclient.InferenceServerClient(url)


def _call(what: str, method: Any, *args: Any, **kwargs: Any) -> Any:
    from tritonclient.utils import InferenceServerException

    try:
        return method(*args, **kwargs)
    except InferenceServerException as exc:
        raise ModelControlError(f"{what}: {exc.message()}") from exc


def repository_index(client: Any) -> list[ModelState]:
    """Every model (and version the server knows of) with its state."""
    index = _call("repository index", client.get_model_repository_index, as_json=True)
    return sorted(
        (
            ModelState(
                m["name"],
                int(m["version"]) if m.get("version") else None,
                m.get("state", "UNKNOWN") or "UNKNOWN",
                m.get("reason", ""),
            )
            for m in index.get("models", [])
        ),
        key=lambda s: (s.model, s.version or 0),
    )


def served_versions(client: Any, model: str) -> list[int]:
    """READY versions of ``model`` (empty when it is not loaded)."""
    return sorted(
        s.version
        for s in repository_index(client)
        if s.model == model and s.state == "READY" and s.version is not None
    )


def repository_config(repository: Path, model: str) -> dict[str, Any]:
    """``<repository>/<model>/config.pbtxt`` as the JSON dict Triton's load accepts."""
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    path = repository / model / CONFIG_FILE
    if not path.is_file():
        raise ModelControlError(f"{path} does not exist")
    message = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    return dict(json_format.MessageToDict(message, preserving_proto_field_name=True))


def _load_with_versions(
    client: Any, model: str, versions: list[int], base: dict[str, Any]
) -> list[int]:
    config = dict(base)
    config["version_policy"] = {"specific": {"versions": sorted(versions)}}
    _call(f"load {model} {versions}", client.load_model, model, config=json.dumps(config))
    return served_versions(client, model)


def _current_config(client: Any, model: str, repository: Path | None) -> dict[str, Any]:
    if served_versions(client, model):  # the config the server runs now (maybe overridden)
        answer = _call(f"config of {model}", client.get_model_config, model, as_json=True)
        return dict(answer["config"])
    if repository is not None:
        return repository_config(repository, model)
    # Not loaded and no local copy of the repository: load with the repository's own
    # config first, so the server hands us the config to override.
    _call(f"load {model}", client.load_model, model)
    answer = _call(f"config of {model}", client.get_model_config, model, as_json=True)
    return dict(answer["config"])


def load_version(
    client: Any, model: str, version: int | None = None, *, repository: Path | None = None
) -> list[int]:
    """Serve ``version`` next to the versions served now; returns the READY versions."""
    if version is None:
        _call(f"load {model}", client.load_model, model)
        return served_versions(client, model)
    current = served_versions(client, model)  # before a fallback load changes it
    base = _current_config(client, model, repository)
    served = _load_with_versions(client, model, sorted({*current, version}), base)
    if version not in served:
        raise ModelControlError(f"{model} v{version} did not become READY (serving {served})")
    return served


def unload_version(client: Any, model: str, version: int | None = None) -> list[int]:
    """Stop serving ``version`` (all versions when None); returns the READY versions left."""
    current = served_versions(client, model)
    if version is not None and version not in current:
        raise ModelControlError(f"{model} v{version} is not served (serving {current})")
    remaining = [v for v in current if v != version] if version is not None else []
    if not remaining:
        _call(f"unload {model}", client.unload_model, model)
        return []
    base = _current_config(client, model, None)
    return _load_with_versions(client, model, remaining, base)


def route_snippet(version: int) -> str:
    """What pins the orchestrator to ``version`` (config file, environment, per request)."""
    return (
        f"# config file (vidsearch serve --config ...):\n"
        f"inference:\n  model_version: {version}\n"
        f"# or the environment:\n{ENV_VERSION}={version}\n"
        f"# or per request: SearchOptions(model_version={version})\n"
    )


def write_route(path: Path, version: int) -> None:
    """Set ``inference.model_version`` in a YAML config file, keeping everything else."""
    import yaml

    if not path.parent.is_dir():
        raise ModelControlError(f"cannot write {path}: folder {path.parent} does not exist")
    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    data = data or {}
    if not isinstance(data, dict):
        raise ModelControlError(f"{path} does not hold a mapping")
    data.setdefault("inference", {})["model_version"] = version
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def check_route(client: Any, version: int) -> list[str]:
    """Orchestrator models the server serves, but not at ``version``."""
    ready = {(s.model, s.version) for s in repository_index(client) if s.state == "READY"}
    served = {model for model, _ in ready}
    return [m for m in ORCHESTRATOR_MODELS if m in served and (m, version) not in ready]


# ---- CLI ---------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``vidsearch models list|load|unload|route``."""
    parser = subparsers.add_parser(
        "models",
        help="list, load, unload and route model versions on a running Triton",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--url", default=DEFAULT_URL, help="Triton gRPC address host:port")
        return sub

    listing = add("list", "repository index: models, versions and states")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(func=_guarded(_run_list))
    load = add("load", "load MODEL (or one more version of it, next to those served)")
    load.add_argument("models", nargs="+", metavar="MODEL")
    load.add_argument("--version", type=int, help="serve this version next to the others")
    load.add_argument(
        "--repository", type=existing_dir, help="local copy of the server's repository"
    )
    load.set_defaults(func=_guarded(_run_load))
    unload = add("unload", "unload MODEL (or only one of its versions)")
    unload.add_argument("models", nargs="+", metavar="MODEL")
    unload.add_argument("--version", type=int, help="stop serving only this version")
    unload.set_defaults(func=_guarded(_run_unload))
    route = add("route", "print (or write) the setting that routes the orchestrator")
    route.add_argument("--version", type=int, required=True)
    route.add_argument("--write", type=Path, help="set inference.model_version in this YAML")
    route.add_argument("--no-check", action="store_true", help="do not ask the server")
    route.set_defaults(func=_guarded(_run_route))


def _guarded(run: Any) -> Any:
    """CLI errors as one line on stderr and exit status 1, not a traceback."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return int(run(args) or 0)
        except ModelControlError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return wrapper


def _run_list(args: argparse.Namespace) -> int:
    client = _client(args.url)
    try:
        states = repository_index(client)
    finally:
        client.close()
    for s in states:
        if args.json:
            print(json.dumps(asdict(s)))
        else:
            version = "-" if s.version is None else str(s.version)
            print(f"{s.model:<24} {version:>7}  {s.state:<12} {s.reason}".rstrip())
    return 0


def _run_load(args: argparse.Namespace) -> int:
    client = _client(args.url)
    try:
        for model in args.models:
            served = load_version(client, model, args.version, repository=args.repository)
            print(f"{model}: serving versions {served}")
    finally:
        client.close()
    return 0


def _run_unload(args: argparse.Namespace) -> int:
    client = _client(args.url)
    try:
        for model in args.models:
            left = unload_version(client, model, args.version)
            print(f"{model}: serving versions {left}" if left else f"{model}: unloaded")
    finally:
        client.close()
    return 0


def _run_route(args: argparse.Namespace) -> int:
    if not args.no_check:
        client = _client(args.url)
        try:
            missing = check_route(client, args.version)
        finally:
            client.close()
        if missing:
            print(
                f"version {args.version} is not READY for {missing}: "
                f"`vidsearch models load {' '.join(missing)} --version {args.version}` first",
                file=sys.stderr,
            )
            return 1
    if args.write is not None:
        write_route(args.write, args.version)
        print(f"{args.write}: inference.model_version = {args.version}")
    print(route_snippet(args.version), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vidsearch.models_cli ...`` (same as ``vidsearch models ...``)."""
    parser = argparse.ArgumentParser(prog="vidsearch")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
