#!/usr/bin/env bash
# Headless locust run against a local vidsearch server (default) or a cluster (TARGET).
#
#   loadtest/run_local.sh                       # `make loadtest`: local server, var/sample
#   TARGET=vidsearch.example.net:50051 loadtest/run_local.sh   # an existing deployment
#
# Local mode starts `vidsearch serve` (CONFIG, default configs/local.yaml) on a free
# 127.0.0.1 port with a throw-away catalog under $WORK, indexes var/sample/references
# (`make sample`), waits for gRPC health SERVING, runs locust for DURATION and stops the
# server. The report (RPS, p50/p95/p99 per RPC, errors) goes into the `loadtest` section
# of $REPORT (BENCHMARKS.md) via vidsearch.evaluation.report.update_section.
#
# Settings (environment): USERS (4), SPAWN_RATE (2), DURATION (30s), TARGET (unset =
# local), CONFIG, SAMPLE (var/sample), WORK (var/loadtest), REPORT (BENCHMARKS.md; empty =
# print only), START_TIMEOUT (300 s), LOADTEST_* (scenario keys, see loadtest/scenario.py).
# Against a cluster with auth/TLS: VIDSEARCH_TOKEN (bearer token), LOADTEST_CA_CERT (PEM
# roots) or LOADTEST_TLS=1 reach the locust users and the health wait below
# (loadtest/connection.py). With TLS, set TARGET to a name the certificate covers.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")
USERS=${USERS:-4}
SPAWN_RATE=${SPAWN_RATE:-2}
DURATION=${DURATION:-30s}
CONFIG=${CONFIG:-configs/local.yaml}
SAMPLE=${SAMPLE:-var/sample}
WORK=${WORK:-var/loadtest}
REPORT=${REPORT-BENCHMARKS.md}
START_TIMEOUT=${START_TIMEOUT:-300}
export LOADTEST_QUERIES=${LOADTEST_QUERIES:-$SAMPLE/queries}
export LOADTEST_REFERENCES=${LOADTEST_REFERENCES:-$SAMPLE/references}

mkdir -p "$WORK"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

wait_serving() {  # target timeout
  "$PY" - "$1" "$2" <<'PYEOF'
import sys, time
sys.path.insert(0, "loadtest")
from connection import client_options
from vidsearch_client import VideoSearchClient
target, limit = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + limit
with VideoSearchClient(target, timeout=5, **client_options()) as client:
    while True:
        try:
            if client.health() == "SERVING":
                sys.exit(0)
        except Exception:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"{target}: not SERVING after {limit:g} s")
        time.sleep(1)
PYEOF
}

if [[ -n "${TARGET:-}" ]]; then
  target=$TARGET
  server_desc="existing deployment \`$TARGET\`"
else
  [[ -f "$SAMPLE/manifest.json" ]] || { echo "no $SAMPLE: run \`make sample\`" >&2; exit 2; }
  port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  target=127.0.0.1:$port
  run_dir=$(mktemp -d "$WORK/server.XXXXXX")
  # Throw-away catalog and uploads: the run never touches var/catalog.
  VIDSEARCH_CATALOG__PATH=$run_dir/catalog VIDSEARCH_SERVER__UPLOAD_DIR=$run_dir/uploads \
    "$BIN/vidsearch" serve --config "$CONFIG" --host 127.0.0.1 --port "$port" \
    --metrics-port 0 --index-dir "$SAMPLE/references" >"$WORK/server.log" 2>&1 &
  server_pid=$!
  server_desc="\`vidsearch serve --config $CONFIG\` on loopback, catalog = $(ls "$SAMPLE/references" | wc -l) videos of \`$SAMPLE/references\`"
fi

echo "waiting for $target to be SERVING ..." >&2
if ! wait_serving "$target" "$START_TIMEOUT"; then
  [[ -n "$server_pid" ]] && tail -20 "$WORK/server.log" >&2
  exit 1
fi

csv=$WORK/locust
rm -f "${csv}"_*.csv
set +e
"$BIN/locust" -f loadtest/locustfile.py --headless -u "$USERS" -r "$SPAWN_RATE" -t "$DURATION" \
  --host "$target" --csv "$csv" --only-summary --stop-timeout 60 2>&1 | tee "$WORK/locust.log" >&2
locust_rc=${PIPESTATUS[0]}
set -e

scenario=$("$PY" -c 'import sys; sys.path.insert(0, "loadtest")
from scenario import load_scenario; s = load_scenario()
print(f"weights SearchByVideo:IndexVideo:SearchByText:SuggestTags = {s.weight_search}:{s.weight_index}:{s.weight_text}:{s.weight_tags}; top_k {s.top_k}; SearchByText candidates {s.text_candidates}")')
command="make loadtest USERS=$USERS SPAWN_RATE=$SPAWN_RATE DURATION=$DURATION${TARGET:+ TARGET=$TARGET}"
report_args=(--csv "$csv" --target "$target" --users "$USERS" --spawn-rate "$SPAWN_RATE"
  --duration "$DURATION" --scenario "$scenario" --server "$server_desc" --command "$command")
"$PY" loadtest/make_report.py "${report_args[@]}"
if [[ -n "$REPORT" ]]; then
  "$PY" loadtest/make_report.py "${report_args[@]}" --out "$REPORT"
fi
exit "$locust_rc"
