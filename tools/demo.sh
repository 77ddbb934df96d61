#!/usr/bin/env bash
# The ping/pong demo: two processes exchanging messages over shared memory.
#
#   tools/demo.sh
#
# Installs what is missing (Debian 12), builds what the demo needs (Release,
# in build/), then starts pong and ping as separate processes on a private
# temporary --shm_base, shows a few live messages with aos_dump, prints
# ping's round-trip statistics (min/p50/p99/max), stops everything with
# SIGINT, checks that no queue is left in use, and removes the temporary
# shared memory. The run is recorded by aos_logger, and log_info and log_cat
# show what the log holds. Exits 0 on success.
#
# Environment: AOS_BUILD_DIR (default build), DEMO_PINGS (default 2000),
# DEMO_SLEEP_US (default 1000, i.e. 1 kHz).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${AOS_BUILD_DIR:-build}
pings=${DEMO_PINGS:-2000}
sleep_us=${DEMO_SLEEP_US:-1000}

step() { printf '\n== %s\n' "$*"; }
fail() { echo "demo: $*" >&2; exit 1; }

step "Installing missing Debian packages (tools/install_deps.sh)"
tools/install_deps.sh

step "Building ping, pong, aos_dump, aos_shm (Release, in $build/)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" ping pong aos_dump aos_shm aos_logger log_info log_cat \
    pingpong_config | tail -n 1

bin_examples=$build/aos/examples
bin_tools=$build/aos/tools
bin_logging=$build/aos/events/logging
config=$bin_examples/pingpong_config.json

# Shared memory on tmpfs when there is one, in a private directory.
shm_parent=/dev/shm
[[ -d $shm_parent && -w $shm_parent ]] || shm_parent=${TMPDIR:-/tmp}
shm_base=$(mktemp -d "$shm_parent/aos_demo.XXXXXX")
logs=$(mktemp -d "${TMPDIR:-/tmp}/aos_demo_logs.XXXXXX")
flags=(--config="$config" --shm_base="$shm_base")

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$shm_base" "$logs"
}
trap cleanup EXIT

# Until pong runs: its first timing report (pong is the only process sending
# them yet) goes out once its loop runs, and from then on it answers every
# ping. Waiting only for its watcher slot would leave a short window in which
# the first ping could go unanswered.
wait_for_pong() {
  for _ in $(seq 1 1000); do
    if "$bin_tools/aos_shm" --shm_base="$shm_base" show /aos aos.timing.Report \
        2>/dev/null | grep -q "latest index [0-9]"; then
      return 0
    fi
    kill -0 "$1" 2>/dev/null || fail "pong exited early"
    sleep 0.01
  done
  fail "pong did not start"
}

step "Recording every channel (aos_logger) into $logs/robot"
"$bin_logging/aos_logger" "${flags[@]}" --logging_folder="$logs/robot" \
    2> "$logs/logger.err" &
logger_pid=$!
pids+=("$logger_pid")

step "Starting pong, then ping ($pings pings, one every ${sleep_us}us) on $shm_base"
"$bin_examples/pong" "${flags[@]}" --timing_report_ms=100 > "$logs/pong.out" &
pong_pid=$!
pids+=("$pong_pid")
wait_for_pong "$pong_pid"
"$bin_examples/ping" "${flags[@]}" --sleep_us="$sleep_us" --count="$pings" \
    > "$logs/ping.out" &
ping_pid=$!
pids+=("$ping_pid")

step "Live messages (aos_dump /test Ping, then /test Pong)"
"$bin_tools/aos_dump" "${flags[@]}" --count=3 --timeout=10000 /test Ping
"$bin_tools/aos_dump" "${flags[@]}" --count=3 --timeout=10000 /test Pong

step "Queues while running (aos_shm list)"
"$bin_tools/aos_shm" --shm_base="$shm_base" list

step "Round-trip statistics"
wait "$ping_pid" || fail "ping failed"
cat "$logs/ping.out"

step "Stopping the logger (SIGINT)"
kill -INT "$logger_pid"
wait "$logger_pid" || { cat "$logs/logger.err" >&2; fail "aos_logger failed"; }
cat "$logs/logger.err"

step "What the log holds (log_info $logs/robot)"
"$bin_logging/log_info" "$logs/robot"

step "Its first pings and pongs (log_cat --name=/test --count=4)"
"$bin_logging/log_cat" --name=/test --count=4 "$logs/robot"

step "Stopping pong (SIGINT)"
kill -INT "$pong_pid"
wait "$pong_pid" || fail "pong did not exit cleanly"
cat "$logs/pong.out"
pids=()

step "Checking no queue is left in use, then removing $shm_base"
if "$bin_tools/aos_shm" --shm_base="$shm_base" list | grep -q "in use"; then
  "$bin_tools/aos_shm" --shm_base="$shm_base" list >&2
  fail "a queue is still in use after shutdown"
fi
"$bin_tools/aos_shm" --shm_base="$shm_base" clean | sed 's/^/  /'
rmdir "$shm_base"
[[ ! -e $shm_base ]] || fail "$shm_base is still there"
echo "demo: done, no shared memory left behind"
