#!/usr/bin/env bash
# Benchmark Hayon's gRPC-style Echo RPC against two anchors with h2load.
#
#   ours     .build/release/diagnostics-server   (Swift, this repo)
#   grpc     .build/bench/grpc_echo_server        (gRPC C++ callback generic service)
#   nghttpd  nghttpd --no-tls serving a 36-byte static file (raw HTTP/2 ceiling)
#
# See Benchmarks/README.md. Env knobs (defaults in brackets):
#   DURATION [10]  RUNS [3]  CONNECTIONS [4]  STREAMS [10]  THREADS [1]
#   WARMUP [2]  ONLY [ours,grpc,nghttpd]  SKIP_SWIFT_BUILD [0]
#   KEEP_LOGS [0]  REQUIRE_TARGETS [0]  START_TIMEOUT [30]
#   PIN [0]  (1 = taskset: servers on SERVER_CPUS [0], h2load on CLIENT_CPUS [last cpu])
#   LOOPS [1]  event loops of our server (DIAGNOSTICS_LOOPS): one, like nghttpd, because h2load
#              takes one of the two cores this is run on (see Benchmarks/README.md)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/Benchmarks"
BUILD_DIR="$ROOT/.build/bench"
STATS="$BENCH_DIR/h2load_stats.py"

DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-4}
STREAMS=${STREAMS:-10}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-2}
ONLY=${ONLY:-ours,grpc,nghttpd}
SKIP_SWIFT_BUILD=${SKIP_SWIFT_BUILD:-0}
KEEP_LOGS=${KEEP_LOGS:-0}
REQUIRE_TARGETS=${REQUIRE_TARGETS:-0}
START_TIMEOUT=${START_TIMEOUT:-30}
PIN=${PIN:-0}
LOOPS=${LOOPS:-1}
SERVER_CPUS=${SERVER_CPUS:-0}
CLIENT_CPUS=${CLIENT_CPUS:-$(($(nproc) - 1))}

RPC_PATH=/hayon.diagnostics.v1.Diagnostics/Echo
TOKEN=bench-token
STATIC_NAME=echo.bin
EXPECTED_JSON='{"message":"hello from h2load"}'

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- arguments

for v in DURATION RUNS CONNECTIONS STREAMS THREADS WARMUP START_TIMEOUT LOOPS; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer (got '${!v}')"
done
((LOOPS <= 256)) || die "LOOPS must be at most 256, as the server accepts (got '$LOOPS')"

declare -A SELECTED=()
IFS=',' read -r -a _only <<<"$ONLY"
for s in "${_only[@]}"; do
  s=${s//[[:space:]]/}
  [[ -z $s ]] && continue
  case $s in
    ours|grpc|nghttpd) SELECTED[$s]=1 ;;
    *) die "ONLY: unknown server '$s' (expected a comma list of ours,grpc,nghttpd)" ;;
  esac
done
ORDER=()
for s in ours grpc nghttpd; do [[ -n ${SELECTED[$s]:-} ]] && ORDER+=("$s"); done
((${#ORDER[@]} > 0)) || die "ONLY selects no server"
selected() { [[ -n ${SELECTED[$1]:-} ]]; }

"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/install-deps.sh" --bench >&2
for tool in h2load nghttp python3; do
  command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install nghttp2-client python3)"
done
if selected nghttpd; then
  command -v nghttpd >/dev/null || die "'nghttpd' not found (apt-get install nghttp2-server)"
fi

# Optional CPU pinning so that server and load generator do not fight over
# the same cores (threads inherit the affinity of the process they start in).
SERVER_PREFIX=()
CLIENT_PREFIX=()
if [[ $PIN == 1 ]]; then
  command -v taskset >/dev/null || die "PIN=1 needs taskset (util-linux)"
  SERVER_PREFIX=(taskset -c "$SERVER_CPUS")
  CLIENT_PREFIX=(taskset -c "$CLIENT_CPUS")
fi

# ---------------------------------------------------------------- cleanup

PIDS=()
WORK=""
CLIENT_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  if [[ -n $CLIENT_PID ]]; then
    kill -TERM "$CLIENT_PID" 2>/dev/null || true   # timeout forwards it to h2load
    wait "$CLIENT_PID" 2>/dev/null || true
  fi
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # Give each server up to ~5 s to exit cleanly, then force it.
    local i
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not exit after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $WORK && -d $WORK && $KEEP_LOGS != 1 ]]; then
    rm -f "$WORK"/*.log
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- build

mkdir -p "$BUILD_DIR"

if selected grpc; then
  src="$BENCH_DIR/anchors/grpc_echo_server.cc"
  bin="$BUILD_DIR/grpc_echo_server"
  if [[ ! -x $bin || $src -nt $bin ]]; then
    pkg-config --exists grpc++ grpc || die "pkg-config cannot find grpc++ (apt-get install libgrpc++-dev)"
    log "building $bin"
    # shellcheck disable=SC2046
    g++ -O2 -std=c++17 -o "$bin.tmp" "$src" $(pkg-config --cflags --libs grpc++ grpc)
    mv -f "$bin.tmp" "$bin"
  fi
fi

if selected ours; then
  if [[ $SKIP_SWIFT_BUILD != 1 ]]; then
    log "swift build -c release --product diagnostics-server"
    (cd "$ROOT" && swift build -c release --product diagnostics-server)
  fi
  [[ -x $ROOT/.build/release/diagnostics-server ]] ||
    die "$ROOT/.build/release/diagnostics-server missing (unset SKIP_SWIFT_BUILD or build it)"
fi

# ---------------------------------------------------------------- work dir

WORK="$BUILD_DIR/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$WORK" "$WORK/docroot"
BODY="$WORK/body.bin"
python3 "$STATS" body "$BODY"
# The static file for nghttpd has the same bytes (and size) as the echo
# response body: the 36-byte gRPC frame.
cp "$BODY" "$WORK/docroot/$STATIC_NAME"
log "results in $WORK"

# ---------------------------------------------------------------- servers

# Something else burning CPU (a swift build, say) skews the comparison badly
# on a small machine; say so up front.
busy=$(python3 "$STATS" cpu-busy 1)
if ((busy > 20)); then
  log "WARNING: the machine is already ${busy}% busy before the benchmark; results will be noisy"
fi

# wait_for_listen NAME PID OUTFILE -> prints PORT
wait_for_listen() {
  local name=$1 pid=$2 out=$3 deadline=$((SECONDS + START_TIMEOUT)) line
  while ((SECONDS < deadline)); do
    line=$(grep -m1 -E '^listening on 127\.0\.0\.1:[0-9]+$' "$out" 2>/dev/null || true)
    if [[ -n $line ]]; then
      printf '%s\n' "${line##*:}"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited before listening; its output:"
      cat "$out" "$out.err" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.05
  done
  log "$name did not print 'listening on 127.0.0.1:PORT' within ${START_TIMEOUT}s"
  return 1
}

# wait_for_accept NAME PID PORT
wait_for_accept() {
  local name=$1 pid=$2 port=$3 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  log "$name did not accept connections on port $port within ${START_TIMEOUT}s"
  return 1
}

declare -A URL=() PID=()

if selected ours; then
  out="$WORK/ours.out"
  DIAGNOSTICS_LISTEN=127.0.0.1:0 DIAGNOSTICS_LOOPS=$LOOPS HAYON_RPC_TOKEN=$TOKEN \
    "${SERVER_PREFIX[@]}" "$ROOT/.build/release/diagnostics-server" >"$out" 2>"$out.err" </dev/null &
  pid=$!
  PIDS+=("$pid")
  PID[ours]=$pid
  port=$(wait_for_listen ours "$pid" "$out") || die "could not start our diagnostics-server"
  URL[ours]="http://127.0.0.1:$port$RPC_PATH"
  log "ours     pid $pid -> ${URL[ours]}"
fi

if selected grpc; then
  out="$WORK/grpc.out"
  "${SERVER_PREFIX[@]}" "$BUILD_DIR/grpc_echo_server" >"$out" 2>"$out.err" </dev/null &
  pid=$!
  PIDS+=("$pid")
  PID[grpc]=$pid
  port=$(wait_for_listen grpc "$pid" "$out") || die "could not start the gRPC C++ anchor"
  URL[grpc]="http://127.0.0.1:$port$RPC_PATH"
  log "grpc     pid $pid -> ${URL[grpc]}"
fi

if selected nghttpd; then
  # nghttpd needs an explicit port: take one the kernel just handed out and
  # retry if somebody else grabbed it in between.
  started=0
  for attempt in 1 2 3; do
    port=$(python3 "$STATS" free-port)
    out="$WORK/nghttpd.out"
    "${SERVER_PREFIX[@]}" nghttpd --no-tls -a 127.0.0.1 -d "$WORK/docroot" "$port" >"$out" 2>"$out.err" </dev/null &
    pid=$!
    if wait_for_accept nghttpd "$pid" "$port"; then
      PIDS+=("$pid")
      PID[nghttpd]=$pid
      started=1
      break
    fi
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    log "nghttpd attempt $attempt on port $port failed: $(tr '\n' ' ' <"$out.err")"
  done
  ((started)) || die "could not start nghttpd"
  URL[nghttpd]="http://127.0.0.1:$port/$STATIC_NAME"
  log "nghttpd  pid $pid -> ${URL[nghttpd]}"
fi

# ---------------------------------------------------------------- correctness

GRPC_HEADERS=(-H 'content-type: application/grpc' -H 'te: trailers'
              -H "authorization: Bearer $TOKEN")

check_grpc() {
  local name=$1 url=$2 out="$WORK/check-$1.txt"
  timeout 20 nghttp -v -t 10 -d "$BODY" "${GRPC_HEADERS[@]}" "$url" >"$out" 2>&1 || true
  local ok=1
  grep -aqE 'recv \(stream_id=[0-9]+\) :status: 200' "$out" || { log "$name: no ':status: 200'"; ok=0; }
  grep -aqE 'recv \(stream_id=[0-9]+\) grpc-status: 0$' "$out" || {
    log "$name: no 'grpc-status: 0' in the response trailers ($(grep -aE 'grpc-(status|message):' "$out" | tr -s ' \n' ' '))"
    ok=0
  }
  grep -aqF "$EXPECTED_JSON" "$out" || { log "$name: echoed JSON $EXPECTED_JSON not in the body"; ok=0; }
  if ((!ok)); then
    log "$name: correctness check failed; nghttp -v output (tail):"
    tail -n 40 "$out" >&2
    die "$name does not answer the Echo RPC correctly; not benchmarking (h2load would count gRPC errors as successes)"
  fi
  log "$name: correctness check ok (grpc-status: 0, echoed body)"
}

check_static() {
  local out="$WORK/check-nghttpd.bin"
  timeout 20 nghttp -t 10 "${URL[nghttpd]}" >"$out" 2>"$out.err" || true
  cmp -s "$out" "$WORK/docroot/$STATIC_NAME" ||
    die "nghttpd: GET ${URL[nghttpd]} did not return the static file ($(head -c 200 "$out.err"))"
  log "nghttpd: correctness check ok ($(stat -c %s "$out") byte body)"
}

if selected ours; then
  check_grpc ours "${URL[ours]}"
  # Informational: the token must actually be enforced, otherwise we would be
  # benchmarking a cheaper code path than the one we ship.
  noauth="$WORK/check-ours-noauth.txt"
  timeout 20 nghttp -v -t 10 -d "$BODY" -H 'content-type: application/grpc' -H 'te: trailers' \
    "${URL[ours]}" >"$noauth" 2>&1 || true
  if grep -aqE 'grpc-status: 0$' "$noauth"; then
    log "WARNING: ours answered grpc-status 0 WITHOUT the authorization header"
  fi
fi
selected grpc && check_grpc grpc "${URL[grpc]}"
selected nghttpd && check_static

# ---------------------------------------------------------------- measure

SETTINGS="h2load -c $CONNECTIONS -m $STREAMS -t $THREADS -D ${DURATION}s --warm-up-time ${WARMUP}s; runs=$RUNS (interleaved: ${ORDER[*]}); $(nproc) cpu(s); $(h2load --version 2>/dev/null | head -n1)"
if [[ $PIN == 1 ]]; then
  SETTINGS+="; pinned: servers cpu $SERVER_CPUS, h2load cpu $CLIENT_CPUS"
else
  SETTINGS+="; unpinned"
fi
SETTINGS+="; ours with $LOOPS event loop(s)"
log "$SETTINGS"

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

run_h2load() {
  local name=$1 run=$2
  local stdout="$WORK/$name-run$run.txt" logf="$WORK/$name-run$run.log"
  local args=(-c "$CONNECTIONS" -m "$STREAMS" -t "$THREADS" -D "${DURATION}s"
              --warm-up-time "${WARMUP}s" --log-file "$logf")
  if [[ $name == nghttpd ]]; then
    args+=("${URL[nghttpd]}")
  else
    args+=(-d "$BODY" "${GRPC_HEADERS[@]}" "${URL[$name]}")
  fi
  log "run $run/$RUNS: $name"
  local rc=0
  # Run in the background and wait, so that a SIGINT/SIGTERM to this script
  # runs the cleanup trap at once instead of after h2load finishes.
  timeout --kill-after=10 $((DURATION + WARMUP + 60)) \
    "${CLIENT_PREFIX[@]}" h2load "${args[@]}" >"$stdout" 2>&1 </dev/null &
  CLIENT_PID=$!
  wait "$CLIENT_PID" || rc=$?
  CLIENT_PID=""
  python3 "$STATS" run --server "$name" --run "$run" --stdout "$stdout" --log "$logf" --rc "$rc" >>"$RESULTS"
  [[ $KEEP_LOGS == 1 ]] || rm -f "$logf"
  local last
  last=$(tail -n1 "$RESULTS")
  python3 - "$last" <<'PY' >&2
import json, sys
r = json.loads(sys.argv[1])
rps = r.get("rps"); p50 = r.get("p50_ms"); p99 = r.get("p99_ms")
f = lambda v, d: "n/a" if v is None else f"{v:.{d}f}"
msg = "ok" if not r["problems"] else "PROBLEMS: " + "; ".join(r["problems"])
print(f"[bench]   {r['server']}: {f(rps, 0)} req/s  p50 {f(p50, 3)} ms  p99 {f(p99, 3)} ms  {msg}")
PY
}

for ((run = 1; run <= RUNS; run++)); do
  for name in "${ORDER[@]}"; do
    kill -0 "${PID[$name]}" 2>/dev/null ||
      die "$name (pid ${PID[$name]}) is no longer running; see $WORK/$name.out.err"
    run_h2load "$name" "$run"
  done
done

# ---------------------------------------------------------------- report

echo
report_rc=0
python3 "$STATS" report "$RESULTS" --settings "settings: $SETTINGS" >"$WORK/report.txt" || report_rc=$?
cat "$WORK/report.txt"
echo
log "raw output in $WORK"

if ((report_rc != 0)); then
  die "some runs had failed/errored requests (see the per-run table)"
fi
if [[ $REQUIRE_TARGETS == 1 ]] && grep -q ' MISS$' "$WORK/report.txt"; then
  die "REQUIRE_TARGETS=1 and at least one target was missed"
fi
