#!/usr/bin/env bash
# Benchmark the gateway's GET /api/accounts (bearer token, RPC to account-service) against a bare
# Node.js `http` server answering the same path with the same JSON document from memory after the
# same bearer check. h2load drives both over HTTP/1.1 (--h1) and the gateway over HTTP/2 (h2c
# prior knowledge). Target (issue 5): gateway ≥ 1.5 × Node's requests/s over HTTP/1.1.
#
# Env knobs (defaults in brackets):
#   DURATION [10]  WARMUP [2]  RUNS [3]  CONNECTIONS [16]  H2_CONNECTIONS [4]  STREAMS [10]
#   THREADS [1]  SKIP_SWIFT_BUILD [0]  BIN_DIR [.build/release]  START_TIMEOUT [30]
#   GATEWAY_ACCOUNT_CONNECTIONS [1]  (passed to the gateway)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-16}
H2_CONNECTIONS=${H2_CONNECTIONS:-4}
STREAMS=${STREAMS:-10}
THREADS=${THREADS:-1}
SKIP_SWIFT_BUILD=${SKIP_SWIFT_BUILD:-0}
BIN_DIR=${BIN_DIR:-$ROOT/.build/release}
START_TIMEOUT=${START_TIMEOUT:-30}
RPC_TOKEN=bench-rpc-token-$RANDOM$RANDOM

log() { printf '[gateway-bench] %s\n' "$*" >&2; }
die() { printf '[gateway-bench] ERROR: %s\n' "$*" >&2; exit 1; }

"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/install-deps.sh" --bench >&2
for tool in h2load node curl python3 openssl; do
  command -v "$tool" >/dev/null || die "'$tool' not found"
done

WORK=$(mktemp -d /tmp/gateway-bench.XXXXXX)
RESULTS="$ROOT/.build/bench/gateway-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RESULTS"
PIDS=()
cleanup() {
  [[ -n ${DEBUG_CLEANUP:-} ]] && echo "cleanup: ${PIDS[*]}" >&2
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if [[ $SKIP_SWIFT_BUILD != 1 ]]; then
  log "building release products (gateway, auth-service, account-service)"
  (cd "$ROOT" && swift build -c release --product gateway && swift build -c release --product auth-service \
    && swift build -c release --product account-service) >&2
fi
for product in gateway auth-service account-service; do
  [[ -x $BIN_DIR/$product ]] || die "$BIN_DIR/$product is missing (build it or set BIN_DIR)"
done

# Starts a program in the background (in this shell, so cleanup knows its pid) and sets PORT
# from its `listening on host:port` line.
PORT=
start() {
  local name=$1; shift
  local out="$WORK/$name.out"
  env "$@" >"$out" 2>"$RESULTS/$name.stderr" &
  PIDS+=($!)
  local deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if grep -q '^listening on ' "$out" 2>/dev/null; then
      PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out" | head -1)
      return 0
    fi
    sleep 0.1
  done
  die "$name did not start (see $RESULTS/$name.stderr)"
}

key() { openssl rand -base64 32; }

start account-service HAYON_RPC_TOKEN="$RPC_TOKEN" ACCOUNT_SERVICE_LISTEN=127.0.0.1:0 \
  HAYON_DATA_DIR="$WORK/account" HAYON_LOG_LEVEL=warning "$BIN_DIR/account-service"
ACCOUNT_PORT=$PORT
ACCOUNT_PID=${PIDS[-1]}
start auth-service HAYON_RPC_TOKEN="$RPC_TOKEN" AUTH_SERVICE_LISTEN=127.0.0.1:0 \
  ACCOUNT_SERVICE_ADDRESS=127.0.0.1:$ACCOUNT_PORT HAYON_DATA_DIR="$WORK/auth" HAYON_LOG_LEVEL=warning \
  HAYON_VAULT_KEYS="v1:$(key)" HAYON_ACCESS_TOKEN_KEYS="k1:$(key)" "$BIN_DIR/auth-service"
AUTH_PORT=$PORT
start gateway HAYON_RPC_TOKEN="$RPC_TOKEN" GATEWAY_LISTEN=127.0.0.1:0 \
  AUTH_SERVICE_ADDRESS=127.0.0.1:$AUTH_PORT ACCOUNT_SERVICE_ADDRESS=127.0.0.1:$ACCOUNT_PORT \
  GATEWAY_ACCOUNT_CONNECTIONS="${GATEWAY_ACCOUNT_CONNECTIONS:-1}" HAYON_LOG_LEVEL=warning "$BIN_DIR/gateway"
GATEWAY_PORT=$PORT
GATEWAY_PID=${PIDS[-1]}
log "account-service :$ACCOUNT_PORT  auth-service :$AUTH_PORT  gateway :$GATEWAY_PORT"

GATEWAY=http://127.0.0.1:$GATEWAY_PORT
SIGNUP=$(curl -sS --fail-with-body -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com","password":"correct horse battery"}' "$GATEWAY/api/auth/signup")
TOKEN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"]["accessToken"])' <<<"$SIGNUP")
curl -sS --fail-with-body -H "Authorization: Bearer $TOKEN" "$GATEWAY/api/accounts" >"$WORK/accounts.json"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$GATEWAY/api/accounts") == 401 ]] || die "gateway answered without a token"
log "document: $(wc -c <"$WORK/accounts.json") bytes"

cat >"$WORK/node-server.js" <<'JS'
const http = require('http');
const fs = require('fs');
const body = fs.readFileSync(process.env.DOC);
const expected = 'Bearer ' + process.env.TOKEN;
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/api/accounts') {
    if (req.headers['authorization'] !== expected) {
      const error = JSON.stringify({ error: { code: 'unauthenticated', message: 'access token is invalid' } });
      res.writeHead(401, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(error) });
      res.end(error);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
    return;
  }
  res.writeHead(404, { 'content-length': 0 });
  res.end();
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => console.log('listening on 127.0.0.1:' + server.address().port));
JS
start node DOC="$WORK/accounts.json" TOKEN="$TOKEN" node "$WORK/node-server.js"
NODE_PORT=$PORT
NODE_PID=${PIDS[-1]}
NODE=http://127.0.0.1:$NODE_PORT
cmp -s "$WORK/accounts.json" <(curl -sS -H "Authorization: Bearer $TOKEN" "$NODE/api/accounts") || die "node answers differently"

# Runs h2load; prints req/s (empty when the run had failures).
measure() {
  local label=$1; shift
  local out="$RESULTS/$label.txt"
  h2load "$@" -t "$THREADS" -D "${DURATION}s" --warm-up-time "${WARMUP}s" -H "authorization: Bearer $TOKEN" >"$out" 2>&1 || true
  python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rate = re.search(r'finished in [^,]+, ([0-9.]+) req/s', text)
counts = re.search(r'requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout', text)
codes = re.search(r'status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx', text)
bad = (not rate or not counts or int(counts.group(5)) or int(counts.group(6)) or int(counts.group(7))
       or not codes or int(codes.group(3)) or int(codes.group(4)))
print("" if bad else rate.group(1))
PY
}

# CPU time (user + system) a process has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
# µs of CPU per request: ticks used during the whole h2load run (warm-up included) over the
# requests of that run, estimated as rate × (warm-up + duration). An estimate, but one that
# does not depend on how busy the machine is, unlike req/s.
per_request() {
  python3 -c "print(f'{($2 - $1) * 1e6 / $CLK_TCK / ($3 * ($DURATION + $WARMUP)):.1f}')"
}

declare -A RATES=() CPU=()
for run in $(seq 1 "$RUNS"); do
  for target in gateway-h1 node-h1 gateway-h2; do
    g0=$(cpu_ticks "$GATEWAY_PID"); a0=$(cpu_ticks "$ACCOUNT_PID"); n0=$(cpu_ticks "$NODE_PID")
    case $target in
      gateway-h1) rate=$(measure "$target-$run" --h1 -c "$CONNECTIONS" -m 1 "$GATEWAY/api/accounts") ;;
      node-h1) rate=$(measure "$target-$run" --h1 -c "$CONNECTIONS" -m 1 "$NODE/api/accounts") ;;
      gateway-h2) rate=$(measure "$target-$run" -c "$H2_CONNECTIONS" -m "$STREAMS" "$GATEWAY/api/accounts") ;;
    esac
    [[ -n $rate ]] || die "$target run $run had failed or non-2xx requests (see $RESULTS/$target-$run.txt)"
    g1=$(cpu_ticks "$GATEWAY_PID"); a1=$(cpu_ticks "$ACCOUNT_PID"); n1=$(cpu_ticks "$NODE_PID")
    RATES[$target]="${RATES[$target]:-} $rate"
    if [[ $target == node-h1 ]]; then
      cpu="node $(per_request "$n0" "$n1" "$rate")"
      CPU[node-h1]="${CPU[node-h1]:-} $(per_request "$n0" "$n1" "$rate")"
    else
      gateway_cpu=$(per_request "$g0" "$g1" "$rate")
      account_cpu=$(per_request "$a0" "$a1" "$rate")
      cpu="gateway $gateway_cpu, account-service $account_cpu"
      CPU[$target-gateway]="${CPU[$target-gateway]:-} $gateway_cpu"
      CPU[$target-account]="${CPU[$target-account]:-} $account_cpu"
    fi
    log "run $run $target: $rate req/s (CPU µs/request: $cpu)"
  done
done

median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
G1=$(median "${RATES[gateway-h1]}")
N1=$(median "${RATES[node-h1]}")
G2=$(median "${RATES[gateway-h2]}")
RATIO=$(python3 -c "print(f'{$G1/$N1:.2f}')")
{
  echo "GET /api/accounts, median of $RUNS × ${DURATION}s (h1: -c $CONNECTIONS -m 1; h2: -c $H2_CONNECTIONS -m $STREAMS; -t $THREADS)"
  echo
  echo "| server | protocol | req/s | CPU µs/request (≈) |"
  echo "| --- | --- | --- | --- |"
  echo "| gateway (+ RPC to account-service) | HTTP/1.1 | $G1 | gateway $(median "${CPU[gateway-h1-gateway]}"), account-service $(median "${CPU[gateway-h1-account]}") |"
  echo "| bare Node.js http | HTTP/1.1 | $N1 | $(median "${CPU[node-h1]}") |"
  echo "| gateway (+ RPC to account-service) | HTTP/2 (h2c) | $G2 | gateway $(median "${CPU[gateway-h2-gateway]}"), account-service $(median "${CPU[gateway-h2-account]}") |"
  echo
  echo "gateway/node over HTTP/1.1: ${RATIO}× (target ≥ 1.5×: $(python3 -c "print('PASS' if $G1 >= 1.5*$N1 else 'MISS')"))"
} | tee "$RESULTS/report.md"
