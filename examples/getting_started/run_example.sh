#!/usr/bin/env bash
# Runs the getting-started example as docs/getting_started.md does: listener
# and counter as two processes on a private --shm_base; checks that the
# listener prints counts, that both stop cleanly on SIGINT, and that a bad
# --config is one line of error and exit status 1.
#
#   run_example.sh <counter> <listener>
set -euo pipefail
counter=$1
listener=$2

shm=$(mktemp -d /dev/shm/aos_example.XXXXXX)
out=$(mktemp)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$shm" "$out"
}
trap cleanup EXIT

fail() { echo "run_example: $*" >&2; exit 1; }

# A bad --config: one line naming the file, exit 1, no stack trace.
set +e
err=$("$counter" --config=/nonexistent/myapp_config.json 2>&1 >/dev/null)
status=$?
set -e
[[ $status -eq 1 ]] || fail "counter --config=<missing> exited $status, want 1"
[[ $(printf '%s\n' "$err" | wc -l) -eq 1 ]] || fail "want one line of error, got: $err"
[[ $err == counter:*nonexistent/myapp_config.json* ]] || fail "error does not name the file: $err"

"$listener" --shm_base="$shm" >"$out" &
pids+=($!)
"$counter" --shm_base="$shm" &
pids+=($!)

# The counter sends every 100 ms; three counts arrive well within the guard.
for _ in $(seq 200); do
  [[ $(grep -c '^count ' "$out" || true) -ge 3 ]] && break
  sleep 0.1
done
grep -q '^count [0-9]* from counter sent at ' "$out" || fail "listener printed no counts: $(cat "$out")"

# SIGINT ends Run(); both exit 0.
for pid in "${pids[@]}"; do kill -INT "$pid"; done
for pid in "${pids[@]}"; do
  wait "$pid" || fail "process $pid exited $? after SIGINT"
done
pids=()
echo "run_example: ok ($(grep -c '^count ' "$out") counts)"
