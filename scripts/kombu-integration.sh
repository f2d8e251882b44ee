#!/usr/bin/env bash
# Kombu 5.7.0's own integration tests against this project: see kombu57-integration/README.md.
#   bash scripts/kombu-integration.sh [TARGET...] [-- PYTEST-ARGS]   (targets: --list)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$ROOT/.venv/bin/python" "$ROOT/kombu57-integration/run.py" "$@"
