#!/usr/bin/env bash
# Installs the Debian packages Hayon builds and tests with. Idempotent: does nothing when they
# are already present. Needs root (or sudo) the first time.
set -euo pipefail

packages=(
  pkg-config libssl-dev libnghttp2-dev libsqlite3-dev  # C libraries the Swift targets link
  nghttp2-client nghttp2-server curl                    # interop peers and h2load
  python3-venv openssl                                  # grpcio test tooling, test certificates
  docker-compose                                        # validates docker-compose.yml (no engine needed)
)

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
