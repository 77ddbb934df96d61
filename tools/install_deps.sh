#!/usr/bin/env bash
# Installs the Debian 12 packages AOS needs to build, test and benchmark.
#
# Idempotent: when everything is present it prints nothing and exits 0.
# Uses sudo when not run as root. Exits non-zero, naming the packages, if the
# installation fails.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libgoogle-glog-dev libgflags-dev
  libflatbuffers-dev flatbuffers-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  libzstd-dev libssl-dev zlib1g-dev liblzma-dev libsnappy-dev
  cyclonedds-dev cyclonedds-tools iproute2
)
# Test-only: the MCAP export is checked by Foxglove's reader from npm. A
# machine may have node and npm from elsewhere (one nodejs package that ships
# npm conflicts with Debian's npm), so only a missing command asks for them.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install_deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi

echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -qq >/tmp/aos_install_deps.log 2>&1 ||
   ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
       >>/tmp/aos_install_deps.log 2>&1; then
  echo "install_deps: apt-get failed installing ${missing[*]}; see /tmp/aos_install_deps.log:" >&2
  tail -n 20 /tmp/aos_install_deps.log >&2
  exit 1
fi
echo "install_deps: done"
