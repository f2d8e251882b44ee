#!/usr/bin/env bash
# The amqp and redis transports on the LOWEST client versions they declare.
#
#   bash scripts/client-range.sh            # build .venv-clients-low/ if needed, run the subset
#   CLIENT_RANGE_REBUILD=1 bash scripts/client-range.sh   # rebuild the venv first
#
# Makes a throwaway venv (.venv-clients-low/, git-ignored) with kombu-core and the two
# transports installed editable and py-amqp, pika and redis-py pinned to exactly the lower
# bounds in kombu-transport-amqp/pyproject.toml and kombu-transport-redis/pyproject.toml,
# then runs a bounded subset of those transports' tests there (the main .venv has the
# highest versions and runs everything).  The venv is rebuilt when a declared bound changes.
# Servers: Redis 6379 and RabbitMQ 5672 (make services).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=$ROOT/.venv-clients-low
BASE_PY=${CLIENT_RANGE_PYTHON:-$ROOT/.venv/bin/python}

# "amqp==5.2 pika==1.3 redis==5" from the pyproject lower bounds (">=X" of each dependency).
pins=$("$BASE_PY" - <<'EOF'
import re, tomllib
out = []
for dist, names in (("kombu-transport-amqp", ("amqp", "pika")), ("kombu-transport-redis", ("redis",))):
    with open(f"{dist}/pyproject.toml", "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    for name in names:
        spec = next(d for d in deps if re.match(rf"{name}\s*[<>=!~]", d))
        low = re.search(r">=\s*([0-9][0-9.]*)", spec)
        if low is None:
            raise SystemExit(f"client-range: {dist} declares no lower bound for {name}: {spec!r}")
        out.append(f"{name}=={low.group(1)}")
print(" ".join(out))
EOF
)
echo "client-range: lowest clients: $pins"

# The kit's serializer tests need the optional serializers too (else they would skip).
extras=("PyYAML>=6" "msgpack>=1.0")
stamp="$pins ${extras[*]}"
if [ -n "${CLIENT_RANGE_REBUILD:-}" ] || [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$VENV"
  "$(dirname "$(readlink -f "$BASE_PY")")/python3" -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q -e ./kombu-core -e ./kombu-transport-amqp -e ./kombu-transport-redis \
    $pins "${extras[@]}" "pytest>=8" "pytest-timeout>=2.3"
  echo "$stamp" > "$VENV/.pins"
fi
"$VENV/bin/python" - <<'EOF'
from importlib.metadata import version
print("client-range: installed", ", ".join(f"{n} {version(n)}" for n in ("amqp", "pika", "redis")))
EOF

# The bounded subset (about 2.5 minutes): both transports' conformance kits and seam tests
# (py-amqp's public path is covered by the main run, so its kit copy is left out here; the
# redis public path needs Connection.is_connected, absent from redis-py 5.0, so it skips),
# amqp's features and publish-after-drop tests (py-amqp and pika), redis's semantics.
exec "$VENV/bin/python" -m pytest -q -x -rfE --durations=8 \
  kombu-transport-amqp/tests/test_conformance.py \
  kombu-transport-amqp/tests/test_client_path.py \
  kombu-transport-amqp/tests/test_features.py \
  kombu-transport-amqp/tests/test_publish_after_drop.py \
  kombu-transport-redis/tests/test_conformance.py \
  kombu-transport-redis/tests/test_client_path.py \
  kombu-transport-redis/tests/test_semantics.py \
  --deselect kombu-transport-amqp/tests/test_client_path.py::TestPyAmqpPublicPathConformance \
  "$@"
