#!/usr/bin/env bash
# Canary rollout of a new vidsearch model version (Triton + orchestrator on Kubernetes).
#
# usage: scripts/canary.sh [options] STEP
#
# The new version reaches Triton through the models image, not through this script:
# export it, build vidsearch-models:<tag> holding FROM and TO (Triton serves the newest
# two versions of its repository), set that tag in the overlay and apply (k8s/README.md, "Model
# rollout"). Every Triton pod then serves both, and keeps serving them after a restart;
# Triton runs with --model-control-mode=none, which refuses load/unload requests, so no
# version can live in one pod's memory.
#
# STEP (run them in this order; each is idempotent enough to re-run):
#   check     every Triton pod serves TO of every orchestrator model (exit 3 if not)
#   start     check, then create the canary Deployment `orchestrator-canary` (a copy of
#             `orchestrator` with VIDSEARCH_INFERENCE__MODEL_VERSION=TO, label
#             track=canary, its own catalog collections
#             VIDSEARCH_CATALOG__COLLECTION_PREFIX=vidsearch-vTO) and re-index that
#             catalog with TO (`vidsearch reindex --model-version TO` in the canary pod)
#   compare   query Prometheus for p95 SearchByVideo latency and the error ratio per model
#             version over WINDOW; exit 0 when the canary is within budget, 3 when not
#   promote   route everything to TO (env on `orchestrator`, rollout), delete the canary
#   rollback  delete the canary Deployment
# Triton stops serving FROM with the first models image that holds two newer versions.
#
# options:
#   --from N            version serving now (required)
#   --to N              new version (default FROM+1)
#   --weight PCT        canary share of orchestrator pods, in percent (default 10)
#   --namespace NS      (default vidsearch)
#   --prometheus URL    Prometheus HTTP API (default http://127.0.0.1:9090)
#   --window DUR        PromQL range for compare (default 10m)
#   --max-p95-ratio R   canary p95 may be at most R x stable p95 (default 1.2)
#   --max-error-ratio E canary error ratio budget (default 0.01)
#   --dry-run           print the commands (kubectl, vidsearch, curl), run nothing
#   -h, --help          this text
#
# How traffic is split: the `orchestrator` Service selects app.kubernetes.io/name=
# orchestrator, which both Deployments carry, so the canary gets its share of pods
# (WEIGHT % of the stable replicas, at least 1). gRPC keeps connections open, so the
# share is per connection: use clients that re-resolve / spread (the SDK opens one channel
# per client). For an exact weight put an ingress/Gateway in front (e.g. ingress-nginx
# `nginx.ingress.kubernetes.io/canary-weight`, or an HTTPRoute with two backendRefs and
# weights) pointing at a Service that selects track=canary. A single request can also
# ask for a version with SearchOptions.model_version (it must match its catalog's codes).
#
# Catalog: codes of different model versions are never compared (a search whose version
# did not produce the catalog's codes is refused with FAILED_PRECONDITION), and `vidsearch
# reindex` rewrites codes in place. So the canary serves its own collections (prefix
# vidsearch-vTO): seed them with a backup of the stable catalog (`vidsearch catalog backup
# --out F`, then `VIDSEARCH_CATALOG__COLLECTION_PREFIX=vidsearch-vTO vidsearch catalog
# restore F`) or re-index the sources, then `start` re-indexes them with TO. `promote` moves `orchestrator` to
# that prefix; the old collections stay until you delete them.
#
# Auth: the canary Deployment is a copy of `orchestrator`, so it keeps the tokens Secret
# mount and VIDSEARCH_SERVER__AUTH_TOKENS_FILE (tests/k8s/test_auth_manifests.py runs this
# rewrite on the production Deployment). This script calls no vidsearch RPC (kubectl,
# Triton's repository index inside its pods, Prometheus), so it takes no token; calls
# rejected for a missing or bad token never reach the servicer, so they are not counted
# as canary errors.
#
# Per-version metrics: vidsearch_model_info{version} (value 1 per pod) joined on pod
# with vidsearch_rpc_seconds / vidsearch_rpc_total (ServiceMonitor keeps the pod label).
set -euo pipefail

NS=vidsearch
FROM=""
TO=""
WEIGHT=10
PROM=http://127.0.0.1:9090
WINDOW=10m
MAX_P95_RATIO=1.2
MAX_ERROR_RATIO=0.01
DRY_RUN=0
STEP=""
MODELS="frame_encoder hash_texture_heads video_embedder"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "canary: $*" >&2; exit 2; }

while (($#)); do
  case $1 in
    --from) FROM=$2; shift 2 ;;
    --to) TO=$2; shift 2 ;;
    --weight) WEIGHT=$2; shift 2 ;;
    --namespace) NS=$2; shift 2 ;;
    --prometheus) PROM=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --max-p95-ratio) MAX_P95_RATIO=$2; shift 2 ;;
    --max-error-ratio) MAX_ERROR_RATIO=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    check|start|compare|promote|rollback) [[ -z $STEP ]] || die "one STEP only"; STEP=$1; shift ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ -n $STEP ]] || die "STEP missing (check|start|compare|promote|rollback; see --help)"
[[ $FROM =~ ^[0-9]+$ ]] || die "--from N is required"
TO=${TO:-$((FROM + 1))}
[[ $TO =~ ^[0-9]+$ && $TO != "$FROM" ]] || die "--to must be a version other than --from"
[[ $WEIGHT =~ ^[0-9]+$ && $WEIGHT -ge 1 && $WEIGHT -le 50 ]] || die "--weight is 1..50 (%)"
K="kubectl -n $NS"
PREFIX="vidsearch-v$TO"

run() {  # print, then run unless --dry-run
  echo "+ $*"
  ((DRY_RUN)) || bash -c "$*"
}

# Triton's repository index, read inside each pod (plain HTTP on the pod's loopback; the
# gRPC port may speak TLS): what that pod serves, from the models image it started with.
INDEX_PY='import urllib.request as u; print(u.urlopen(u.Request("http://127.0.0.1:8000/v2/repository/index", data=b"{}", method="POST"), timeout=10).read().decode())'
CHECK_PY='
import json, sys
pod, version, models = sys.argv[1], sys.argv[2], sys.argv[3:]
ready = {(m["name"], m.get("version")) for m in json.load(sys.stdin) if m.get("state") == "READY"}
missing = [m for m in models if (m, version) not in ready]
if missing:
    sys.exit(f"canary: {pod} does not serve v{version} of {missing}: roll out a models image "
             "holding it first (k8s/README.md, Model rollout)")
print(f"{pod}: v{version} of {len(models)} models ready")'

check_triton() {  # every Triton pod serves version $1 of each of $MODELS
  local version=$1 pods pod
  echo "+ every Triton pod must serve v$version of: $MODELS"
  if ((DRY_RUN)); then
    echo "+ $K get pods -l app.kubernetes.io/name=triton,app.kubernetes.io/part-of=vidsearch -o name"
    echo "+ each POD: $K exec POD -c triton -- python3 (POST /v2/repository/index) | (check)"
    return 0
  fi
  pods=$($K get pods -l app.kubernetes.io/name=triton,app.kubernetes.io/part-of=vidsearch -o name)
  [[ -n $pods ]] || { echo "canary: no Triton pod found in $NS" >&2; exit 3; }
  for pod in $pods; do
    # shellcheck disable=SC2086  # MODELS: one argument per model
    $K exec "$pod" -c triton -- python3 -c "$INDEX_PY" \
      | python3 -c "$CHECK_PY" "$pod" "$version" $MODELS || exit 3
  done
}

# PromQL: per-version view of the orchestrator's metrics.
version_of_pod="max by (pod, version) (vidsearch_model_info)"
p95_query="histogram_quantile(0.95, sum by (le, version) (rate(vidsearch_rpc_seconds_bucket{method=\"SearchByVideo\"}[$WINDOW]) * on (pod) group_left (version) $version_of_pod))"
error_query="sum by (version) (rate(vidsearch_rpc_total{code!=\"OK\"}[$WINDOW]) * on (pod) group_left (version) $version_of_pod) / sum by (version) (rate(vidsearch_rpc_total[$WINDOW]) * on (pod) group_left (version) $version_of_pod)"

canary_manifest() {  # stable Deployment -> canary Deployment (JSON on stdin/stdout)
  cat <<PYEOF
$K get deployment orchestrator -o json | python3 -c '
import json, math, sys
d = json.load(sys.stdin)
for k in ("status",): d.pop(k, None)
m = d["metadata"]; m["name"] = "orchestrator-canary"
for k in ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"): m.pop(k, None)
m.setdefault("annotations", {}).pop("kubectl.kubernetes.io/last-applied-configuration", None)
d["spec"]["replicas"] = max(1, math.ceil(d["spec"].get("replicas", 1) * $WEIGHT / 100))
d["spec"]["selector"]["matchLabels"]["track"] = "canary"
d["spec"]["template"]["metadata"]["labels"]["track"] = "canary"
c = d["spec"]["template"]["spec"]["containers"][0]
env = [e for e in c.get("env", []) if e["name"] not in ("VIDSEARCH_INFERENCE__MODEL_VERSION", "VIDSEARCH_CATALOG__COLLECTION_PREFIX")]
c["env"] = env + [{"name": "VIDSEARCH_INFERENCE__MODEL_VERSION", "value": "$TO"}, {"name": "VIDSEARCH_CATALOG__COLLECTION_PREFIX", "value": "$PREFIX"}]
json.dump(d, sys.stdout)' | $K apply -f -
PYEOF
}

case $STEP in
  check)
    check_triton "$TO"
    ;;
  start)
    check_triton "$TO"
    run "$(canary_manifest)"
    run "$K rollout status deployment/orchestrator-canary --timeout=15m"
    run "$K exec deployment/orchestrator-canary -- vidsearch reindex --model-version $TO"
    echo "canary v$TO serving ~$WEIGHT % of orchestrator pods; wait $WINDOW, then: $0 --from $FROM --to $TO compare"
    ;;
  compare)
    tmp=/tmp/canary-$$
    ((DRY_RUN)) || mkdir -p "$tmp"
    run "curl -fsS -G '$PROM/api/v1/query' --data-urlencode 'query=$p95_query' > $tmp/p95.json"
    run "curl -fsS -G '$PROM/api/v1/query' --data-urlencode 'query=$error_query' > $tmp/err.json"
    ((DRY_RUN)) && exit 0
    python3 - "$FROM" "$TO" "$MAX_P95_RATIO" "$MAX_ERROR_RATIO" "$tmp/p95.json" "$tmp/err.json" <<'PYEOF'
import json, math, sys
old, new, max_ratio, max_err = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
def by_version(path):
    out = {}
    for r in json.load(open(path))["data"]["result"]:
        out[r["metric"].get("version")] = float(r["value"][1])
    return out
p95, err = by_version(sys.argv[5]), by_version(sys.argv[6])
print(f"p95 SearchByVideo s: {p95}\nerror ratio: {err}")
if new not in p95 or math.isnan(p95[new]):
    sys.exit(f"no traffic measured for v{new} yet")
ok = p95[new] <= max_ratio * p95.get(old, float("inf")) and err.get(new, 0.0) <= max_err
print("canary within budget: promote" if ok else "canary over budget: roll back")
sys.exit(0 if ok else 3)
PYEOF
    ;;
  promote)
    run "$K set env deployment/orchestrator VIDSEARCH_INFERENCE__MODEL_VERSION=$TO VIDSEARCH_CATALOG__COLLECTION_PREFIX=$PREFIX"
    run "$K rollout status deployment/orchestrator --timeout=15m"
    run "$K delete deployment orchestrator-canary --ignore-not-found"
    echo "promoted v$TO; now put VIDSEARCH_INFERENCE__MODEL_VERSION=$TO and the prefix $PREFIX in k8s/ (base/orchestrator.yaml) so the next apply keeps them; Triton serves v$FROM until a models image holds two newer versions"
    ;;
  rollback)
    run "$K delete deployment orchestrator-canary --ignore-not-found"
    echo "rolled back; Triton keeps serving v$TO (unused) until the models image changes"
    ;;
esac
