#!/usr/bin/env bash
# `make images`: build the container images that k8s/ names, with docker or podman.
#
# usage: scripts/build_images.sh [--list | --check-engine]
#   (none)          build every image below (the models image needs `make export` first)
#   --list          print "IMAGE DOCKERFILE" per image, build nothing
#   --check-engine  exit 0 when a usable container engine is found, else 2 with a message
#
# Environment: CONTAINER_ENGINE (docker or podman; default: the first that answers
# `info`), VERSION (default: pyproject.toml's), MODELS_TAG (the models image's tag,
# default VERSION; a model rollout is a new tag: k8s/README.md), REGISTRY (prefix such
# as registry.example.com/team; default none), PUSH=1 to push after building.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)}
MODELS_TAG=${MODELS_TAG:-$VERSION}
PREFIX=${REGISTRY:+${REGISTRY%/}/}

# IMAGE DOCKERFILE: the names k8s/ uses (tests/k8s/test_images.py checks both ways).
IMAGES=(
  "vidsearch:$VERSION docker/orchestrator.Dockerfile"
  "vidsearch:$VERSION-cuda docker/orchestrator-cuda.Dockerfile"
  "vidsearch-models:$MODELS_TAG docker/models.Dockerfile"
  "vidsearch-triton-cpu:$VERSION docker/triton-cpu.Dockerfile"
  # FROM the two vidsearch images above (k8s/backfill's RayJob): built after them.
  "vidsearch-backfill:$VERSION docker/backfill.Dockerfile"
  "vidsearch-backfill:$VERSION-cuda docker/backfill-cuda.Dockerfile"
)

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${IMAGES[@]}"
  exit 0
fi

# A docker client without a reachable daemon is no engine: ask it, do not trust PATH.
find_engine() {
  local candidates=(docker podman) found=()
  [ -n "${CONTAINER_ENGINE:-}" ] && candidates=("$CONTAINER_ENGINE")
  for engine in "${candidates[@]}"; do
    if command -v "$engine" >/dev/null 2>&1; then
      if "$engine" info >/dev/null 2>&1; then
        echo "$engine"
        return 0
      fi
      found+=("$engine (installed, but \`$engine info\` fails: is its daemon/socket running?)")
    else
      found+=("$engine (not installed)")
    fi
  done
  {
    echo "make images: no usable container engine on this machine:"
    printf '  - %s\n' "${found[@]}"
    echo "Nothing was built. Build on a machine with docker or podman (CONTAINER_ENGINE picks"
    echo "one); the Dockerfiles in docker/ are linted offline by hadolint in tests/k8s/test_images.py."
  } >&2
  return 2
}

engine=$(find_engine) || exit 2
if [ "${1:-}" = "--check-engine" ]; then
  echo "make images: using $engine"
  exit 0
fi

for entry in "${IMAGES[@]}"; do
  read -r image dockerfile <<<"$entry"
  echo "== $engine build -f $dockerfile -t $PREFIX$image ."
  "$engine" build -f "$dockerfile" -t "$PREFIX$image" .
  if [ "${PUSH:-0}" = "1" ]; then
    "$engine" push "$PREFIX$image"
  fi
done
