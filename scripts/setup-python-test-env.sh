#!/usr/bin/env bash
# Creates (idempotently) the Python virtualenv used by the gRPC interop tests
# at <repo>/.venv and installs pinned grpcio packages into it.
# A fast no-op when the venv already has exactly these versions.
set -euo pipefail

GRPCIO_VERSION="1.85.3"
GRPCIO_HEALTH_VERSION="1.85.1"
PROTOBUF_VERSION="7.36.2"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.venv"
py="${venv}/bin/python"

if [[ ! -x "${py}" ]]; then
    python3 -m venv "${venv}"
fi

# Fast path: check installed versions without touching the network.
if "${py}" - "${GRPCIO_VERSION}" "${GRPCIO_HEALTH_VERSION}" "${PROTOBUF_VERSION}" <<'PYEOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
want = {"grpcio": sys.argv[1], "grpcio-health-checking": sys.argv[2], "protobuf": sys.argv[3]}
sys.exit(0 if all(version(name) == v for name, v in want.items()) else 1)
PYEOF
then
    exit 0
fi

"${py}" -m pip install --quiet --disable-pip-version-check \
    "grpcio==${GRPCIO_VERSION}" \
    "grpcio-health-checking==${GRPCIO_HEALTH_VERSION}" \
    "protobuf==${PROTOBUF_VERSION}"
