#!/usr/bin/env bash
# Creates (idempotently) the Python virtualenv used by the gRPC interop tests
# at <repo>/.venv and installs pinned grpcio packages into it.
# A fast no-op when the venv already has exactly these versions.
set -euo pipefail

GRPCIO_VERSION="1.85.3"
GRPCIO_HEALTH_VERSION="1.85.1"
PROTOBUF_VERSION="7.36.2"
# A stock OpenAPI 3.1 validator for the gateway's served document.
OPENAPI_VALIDATOR_VERSION="0.7.2"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.venv"
py="${venv}/bin/python"

if [[ ! -x "${py}" ]]; then
    python3 -m venv "${venv}"
fi

# Fast path: check installed versions without touching the network.
if "${py}" - "${GRPCIO_VERSION}" "${GRPCIO_HEALTH_VERSION}" "${PROTOBUF_VERSION}" "${OPENAPI_VALIDATOR_VERSION}" <<'PYEOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
want = {"grpcio": sys.argv[1], "grpcio-health-checking": sys.argv[2], "protobuf": sys.argv[3],
        "openapi-spec-validator": sys.argv[4]}
sys.exit(0 if all(version(name) == v for name, v in want.items()) else 1)
PYEOF
then
    exit 0
fi

"${py}" -m pip install --quiet --disable-pip-version-check \
    "grpcio==${GRPCIO_VERSION}" \
    "grpcio-health-checking==${GRPCIO_HEALTH_VERSION}" \
    "protobuf==${PROTOBUF_VERSION}" \
    "openapi-spec-validator==${OPENAPI_VALIDATOR_VERSION}"
