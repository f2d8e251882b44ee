#!/usr/bin/env bash
# make test's runner: every test suite, in a few groups that run side by side.
#
#   bash scripts/run-tests.sh            # all groups
#   bash scripts/run-tests.sh core kombu57   # some groups
#
# A group is one process (pytest, or the Kombu 5.7.0 integration runner); its output
# is streamed with a "[group]" prefix and kept in .test-logs/<group>.log.  Groups that
# share fixed entity names on one broker (Kombu's own integration tests) stay inside
# one group, so they never run at the same time.  Exits non-zero if any group failed,
# naming it.  The servers must be up (make services).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-$ROOT/.venv/bin/python}
LOGS=$ROOT/.test-logs
mkdir -p "$LOGS"

declare -A GROUPS_CMD=(
  [core]="$PY -m pytest kombu-core/tests kombu-transport-amqp/tests bench/tests scripts/tests"
  [redis-sqs]="$PY -m pytest kombu-transport-redis/tests kombu-transport-sqs/tests"
  [mongo-beanstalk]="$PY -m pytest kombu-transport-mongodb/tests kombu-transport-beanstalk/tests"
  [couchdb]="$PY -m pytest kombu-transport-couchdb/tests"
  [kombu57]="$PY kombu57-integration/run.py"
  [examples]="$PY -m pytest kombu57-integration/examples/test_examples.py"  # Kombu 5.7's examples/
  [celery]="$PY -m pytest celery-tests"
  [chaos]="$PY -m pytest chaos"
  [docs]="$PY -m pytest docs/tutorial/tests docs/tests"  # the tutorial's transport, the site build
  [clients-low]="bash scripts/client-range.sh"  # amqp/redis on the lowest declared py-amqp, pika, redis-py
)
ORDER=(core redis-sqs mongo-beanstalk couchdb kombu57 examples celery chaos docs clients-low)

selected=("$@")
[ ${#selected[@]} -eq 0 ] && selected=("${ORDER[@]}")

declare -A PIDS=()
start=$(date +%s)
for group in "${selected[@]}"; do
  cmd=${GROUPS_CMD[$group]:-}
  if [ -z "$cmd" ]; then echo "run-tests: unknown group $group (known: ${ORDER[*]})" >&2; exit 2; fi
  echo "run-tests: [$group] $cmd"
  ( set -o pipefail; $cmd 2>&1 | tee "$LOGS/$group.log" | sed -u "s/^/[$group] /" ) &
  PIDS[$group]=$!
done

failed=()
for group in "${selected[@]}"; do
  if ! wait "${PIDS[$group]}"; then failed+=("$group"); fi
done
echo "run-tests: finished in $(( $(date +%s) - start )) s"
for group in "${selected[@]}"; do
  printf 'run-tests: %-8s %s\n' "$group" "$(grep -E '[0-9]+ (passed|failed)' "$LOGS/$group.log" | tail -1)"
done
if [ ${#failed[@]} -gt 0 ]; then
  for group in "${failed[@]}"; do
    # the names of the failed tests, so a truncated CI log still says what broke
    grep -E '^(FAILED|ERROR) ' "$LOGS/$group.log" | sed "s/^/run-tests: [$group] /" | head -20
  done
  echo "run-tests: FAILED groups: ${failed[*]} (logs in .test-logs/)"
  exit 1
fi
