#!/usr/bin/env bash
# Installs the MCAP checker (check.mjs and its npm packages: Foxglove's
# @mcap/core reader and a zstd decoder) into a build directory, for the tests
# that validate AOS's MCAP export. Test-only: nothing in AOS needs these.
#
#   install.sh <this source dir> <destination dir>
#
# Never fails the build or the test run: when node/npm are missing or the npm
# registry cannot be reached, it writes the reason to <destination>/UNAVAILABLE
# and the MCAP tests skip with that reason. Reinstalls only when package.json
# changed.
set -uo pipefail
src=$1
dest=$2
mkdir -p "$dest"
cp "$src/check.mjs" "$dest/check.mjs"
if cmp -s "$src/package.json" "$dest/package.json" &&
   [[ -f "$dest/node_modules/@mcap/core/package.json" ]]; then
  rm -f "$dest/UNAVAILABLE"
  exit 0
fi
cp "$src/package.json" "$dest/package.json"
rm -f "$dest/UNAVAILABLE"
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool is not installed (tools/install_deps.sh installs nodejs and npm)" \
      >"$dest/UNAVAILABLE"
    exit 0
  fi
done
if ! (cd "$dest" && timeout 300 npm install --no-audit --no-fund --loglevel=error \
        >npm.log 2>&1); then
  { echo "npm install of @mcap/core failed (is the npm registry reachable?):"
    tail -n 5 "$dest/npm.log"; } >"$dest/UNAVAILABLE"
  rm -f "$dest/package.json"
fi
exit 0
