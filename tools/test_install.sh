#!/usr/bin/env bash
# Checks that AOS works from another project, as a new user would use it:
#
#   tools/test_install.sh [build dir]      (default build/, already built)
#
# 1. Re-running CMake on the build recompiles and relinks nothing.
# 2. `cmake --install` into a temporary prefix; examples/out_of_tree/ (its
#    own CMakeLists, schema, config, app and simulation test) configures,
#    builds and passes its tests against that prefix; the installed tools
#    run.
# 3. `cpack -G DEB` builds the Debian package; `apt-get install ./aos_*.deb`
#    installs it with its dependencies; examples/out_of_tree/ builds and
#    passes against /usr; the package is removed again.
# Run by .ci/run after tools/test.sh. Needs root (or sudo) for step 3.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
work=$(mktemp -d)
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
installed_deb=0
cleanup() {
  if [[ $installed_deb -eq 1 ]]; then
    "${sudo[@]}" apt-get remove -y -qq aos >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "test_install: $*" >&2; exit 1; }

step "Re-running CMake rebuilds nothing"
# (The version header is refreshed on every build but only rewritten when
# the git revision changes, so nothing compiles.)
ninja -C "$build" >/dev/null
cmake "$build" >/dev/null
rebuilt=$(ninja -C "$build" | grep -E "Building|Linking" || true)
[[ -z "$rebuilt" ]] || fail "re-running cmake on $build rebuilt: $rebuilt"

step "cmake --install into $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
"$work/prefix/bin/aos_dump" --version

step "examples/out_of_tree against the prefix"
cmake -S examples/out_of_tree -B "$work/robot" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
ninja -C "$work/robot"
ctest --test-dir "$work/robot" --output-on-failure
"$work/robot/robot/heartbeat" --version
out=$("$work/robot/robot/heartbeat" --config=/nonexistent.json 2>&1) && fail "bad --config exited 0"
[[ $(printf '%s\n' "$out" | wc -l) -eq 1 ]] || fail "bad --config printed more than one line: $out"

step "The Debian package"
(cd "$build" && rm -f aos_*.deb && cpack -G DEB >/dev/null)
deb=$(ls "$build"/aos_*.deb)
dpkg-deb --info "$deb" | grep -E "Package|Version|Depends"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y -qq "./$deb" >/dev/null
installed_deb=1
aos_dump --version
cmake -S examples/out_of_tree -B "$work/robot-deb" -G Ninja >/dev/null
ninja -C "$work/robot-deb"
ctest --test-dir "$work/robot-deb" --output-on-failure
"${sudo[@]}" apt-get remove -y -qq aos >/dev/null
installed_deb=0
[[ ! -e /usr/lib/cmake/aos ]] || fail "apt-get remove left /usr/lib/cmake/aos"
echo "test_install: ok"
