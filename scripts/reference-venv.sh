#!/usr/bin/env bash
# Create the reference virtual environment .venv-kombu57/ (ignored): Kombu 5.7.0 from PyPI
# with the redis, amqp, pika, boto3, pymongo, greenstalk and requests clients (the
# last two for the raw-client baselines of beanstalk:// and couchdb://).  Interoperability tests drive it in a subprocess
# (.venv-kombu57/bin/python script.py) and bench/run.py measures it beside this project.
#
#   bash scripts/reference-venv.sh          # idempotent; a stamp file makes repeats instant
#
# Environment: REF_VENV (.venv-kombu57)  PYTHON (python3)
# It never touches the project's own .venv, and the project never imports from this one.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${REF_VENV:-$ROOT/.venv-kombu57}
PYTHON=${PYTHON:-python3}
# The extras let pip pick the redis-py, boto3 and pymongo that Kombu 5.7.0 declares it supports.
REQUIREMENTS=("kombu[redis,sqs,mongodb]==5.7.0" "amqp>=5.2,<6" "pika>=1.3" "greenstalk>=2.0" "requests>=2.31")
STAMP=$VENV/.reference-installed
WANT="${REQUIREMENTS[*]}"

say() { printf 'reference-venv: %s\n' "$*" >&2; }

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    exit 0
fi

# Refuse to install into the project's venv, whatever REF_VENV says.
mkdir -p "$VENV"
if [ "$(cd "$VENV" && pwd -P)" = "$(mkdir -p "$ROOT/.venv" && cd "$ROOT/.venv" && pwd -P)" ]; then
    say "REF_VENV points at the project's .venv; refusing"
    exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
say "installing ${REQUIREMENTS[*]} into $VENV"
rm -f "$STAMP"
# The venv's own interpreter, never an activated one: VIRTUAL_ENV and PIP_* must not redirect it.
env -u VIRTUAL_ENV -u PIP_TARGET -u PIP_PREFIX -u PYTHONPATH \
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${REQUIREMENTS[@]}"

# Check what got installed: Kombu 5.7.0 imported from this venv, and the three clients.
env -u PYTHONPATH "$VENV/bin/python" - "$VENV" <<'EOF'
import os, sys
import amqp, pika, redis, kombu
venv = os.path.realpath(sys.argv[1])
where = os.path.realpath(kombu.__file__)
assert kombu.__version__ == '5.7.0', f'kombu {kombu.__version__} installed, want 5.7.0'
assert where.startswith(venv + os.sep), f'kombu imported from {where}, not from {venv}'
print(f'reference-venv: kombu {kombu.__version__}, redis {redis.__version__}, '
      f'amqp {amqp.__version__}, pika {pika.__version__}', file=sys.stderr)
EOF
printf '%s\n' "$WANT" >"$STAMP"
