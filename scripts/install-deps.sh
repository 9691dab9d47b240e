#!/usr/bin/env bash
# Installs the Debian packages Hayon builds and tests with. Idempotent: does nothing when they
# are already present. Needs root (or sudo) the first time.
#
#   scripts/install-deps.sh          what the build, `scripts/run` and `scripts/test` need
#   scripts/install-deps.sh --bench  also what the benchmarks' anchors need (gRPC C++, g++)
set -euo pipefail

packages=(
  pkg-config libssl-dev libnghttp2-dev libsqlite3-dev  # C libraries the Swift targets link
  nghttp2-client nghttp2-server curl                    # interop peers and h2load
  python3-venv openssl                                  # grpcio test tooling, test certificates
  docker-compose                                        # validates docker-compose.yml (no engine needed)
)
if [[ ${1:-} == --bench ]]; then
  packages+=(libgrpc++-dev g++ nodejs)                  # the gRPC C++ echo anchor, the bare Node server
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
