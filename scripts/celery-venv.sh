#!/usr/bin/env bash
# Create .venv-celery/ (ignored): Celery 5.7.0 on this project, installed the documented way
# (README "Celery"): the project's distributions, then the metadata-only `kombu` distribution
# from kombu-compat/ (version 5.7.0+core, no module) that satisfies Celery's `kombu>=5.7.0`
# requirement, then Celery. The `kombu` package imported there is kombu-core's, and
# `pip check` is clean. The Celery end-to-end tests (celery-tests/) run workers and clients
# from this venv.
#
#   bash scripts/celery-venv.sh          # idempotent; a stamp makes repeats instant
#
# Environment: CELERY_VENV (.venv-celery)  PYTHON (python3)
# The project's distributions are installed editable, so the venv follows the working tree;
# a change to one of their pyproject.toml files (entry points, dependencies) re-runs pip.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CELERY_VENV:-$ROOT/.venv-celery}
PYTHON=${PYTHON:-python3}
CELERY="celery[redis]==5.7.0"
DISTS=(kombu-core kombu-transport-amqp kombu-transport-redis kombu-transport-sqs)
STAMP=$VENV/.celery-installed

say() { printf 'celery-venv: %s\n' "$*" >&2; }

# What the stamp records: the requirement and the metadata of every local distribution.
want() {
    printf '%s\n' "$CELERY"
    for dist in "${DISTS[@]}" kombu-compat; do
        sha256sum "$ROOT/$dist/pyproject.toml" | cut -d' ' -f1
    done
}
WANT=$(want)

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    exit 0
fi

mkdir -p "$VENV"
if [ "$(cd "$VENV" && pwd -P)" = "$(mkdir -p "$ROOT/.venv" && cd "$ROOT/.venv" && pwd -P)" ]; then
    say "CELERY_VENV points at the project's .venv; refusing"
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
rm -f "$STAMP"

editables=()
for dist in "${DISTS[@]}"; do editables+=(-e "$ROOT/$dist"); done
say "installing ${DISTS[*]} (editable), kombu-compat and $CELERY into $VENV"
# One resolution: pip takes `kombu` from kombu-compat/ (it was named explicitly), so it never
# fetches the real Kombu for Celery's requirement. --force-reinstall of the compat metadata
# alone keeps it current when its pyproject changed without a version bump.
env -u VIRTUAL_ENV -u PIP_TARGET -u PIP_PREFIX -u PYTHONPATH \
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "${editables[@]}" "$ROOT/kombu-compat[redis]" "$CELERY"
env -u VIRTUAL_ENV -u PYTHONPATH \
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall \
    "$ROOT/kombu-compat"
env -u VIRTUAL_ENV -u PYTHONPATH "$VENV/bin/python" -m pip check >&2

# Check the result: Celery imports, and `kombu` is this project's, not a downloaded one.
env -u PYTHONPATH "$VENV/bin/python" - "$ROOT" <<'EOF'
import os, sys
from importlib.metadata import version
import celery, kombu
root = os.path.realpath(sys.argv[1])
where = os.path.realpath(kombu.__file__)
assert where.startswith(os.path.join(root, 'kombu-core') + os.sep), f'kombu imported from {where}'
assert version('kombu') == '5.7.0+core', f"distribution kombu {version('kombu')} installed"
print(f'celery-venv: celery {celery.__version__} on kombu-core {kombu.__version__} '
      f"(distribution kombu {version('kombu')})", file=sys.stderr)
EOF
printf '%s\n' "$WANT" >"$STAMP"
