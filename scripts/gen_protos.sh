#!/usr/bin/env bash
# Regenerate clients/python/vidsearch_client/v1 from protos/ (see scripts/gen_protos.py).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
exec "$PY" "$ROOT/scripts/gen_protos.py" "$@"
