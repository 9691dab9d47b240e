#!/usr/bin/env python3
"""Parsing and statistics helpers for Benchmarks/rpc-echo-bench.sh (stdlib only).

Subcommands:

  body OUT
      Write the gRPC length-prefixed request message used by the benchmark:
      1 byte compression flag (0), 4-byte big-endian length, JSON payload.

  free-port
      Print a TCP port on 127.0.0.1 that was free a moment ago.

  cpu-busy [SECONDS]
      Print the machine-wide CPU busy percentage over SECONDS (default 1),
      from /proc/stat; used to warn when something else is loading the box.

  run --server NAME --run N --stdout H2LOAD_OUTPUT --log LOG_FILE [--rc RC]
      Parse one h2load run (its stdout and its --log-file) and print one JSON
      object (one line) with req/s, request counters and latency percentiles.

  report RESULTS_JSONL [--settings TEXT]
      Print the summary table (median over runs per server), the ratios of
      ours against the anchors and the PASS/MISS verdict for each target.
      Exit status 0; 2 if any run had failed/errored/timed-out/non-2xx
      requests or missing numbers.

h2load --log-file format (nghttp2 1.52, see `h2load --help`): tab-separated
columns "start time (us since epoch)", "HTTP status (-1 = failed stream)",
"microseconds until end of response"; more columns may be added later, so
only the first three are read. With --warm-up-time only main-phase requests
are logged.
"""

import argparse
import json
import re
import socket
import struct
import sys

PAYLOAD = b'{"message":"hello from h2load"}'

SERVERS = ("ours", "grpc", "nghttpd")
LABELS = {"ours": "ours (Hayon)", "grpc": "grpc-c++", "nghttpd": "nghttpd"}

# (label, numerator server, denominator server, metric, comparison, threshold)
TARGETS = (
    ("ours / grpc-c++  req/s", "ours", "grpc", "rps", ">=", 2.0),
    ("ours / nghttpd   req/s", "ours", "nghttpd", "rps", ">=", 0.60),
    ("ours / grpc-c++  p99", "ours", "grpc", "p99_ms", "<=", 1.0),
)


# --------------------------------------------------------------------------
# small helpers


def median(values):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    n = len(vals)
    mid = n // 2
    if n % 2:
        return vals[mid]
    return (vals[mid - 1] + vals[mid]) / 2.0


def percentile(sorted_vals, p):
    """Nearest-rank percentile (p in 0..100) of an already sorted list."""
    if not sorted_vals:
        return None
    rank = -(-p * len(sorted_vals) // 100)  # ceil(p/100 * n)
    rank = min(max(int(rank), 1), len(sorted_vals))
    return sorted_vals[rank - 1]


def fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float) and digits == 0:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


# --------------------------------------------------------------------------
# body / free-port


def cmd_body(args):
    frame = b"\x00" + struct.pack(">I", len(PAYLOAD)) + PAYLOAD
    with open(args.out, "wb") as f:
        f.write(frame)
    return 0


def cmd_free_port(_args):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    return 0


def _cpu_times():
    with open("/proc/stat", "r", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields), idle


def cmd_cpu_busy(args):
    import time
    total0, idle0 = _cpu_times()
    time.sleep(args.seconds)
    total1, idle1 = _cpu_times()
    dt = total1 - total0
    busy = 0.0 if dt <= 0 else 100.0 * (dt - (idle1 - idle0)) / dt
    print(f"{busy:.0f}")
    return 0


# --------------------------------------------------------------------------
# run: parse one h2load invocation

RE_FINISHED = re.compile(r"^finished in ([0-9.]+)(\w+), ([0-9.]+) req/s", re.M)
RE_REQUESTS = re.compile(
    r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
    r"(\d+) failed, (\d+) errored, (\d+) timeout",
    re.M,
)
RE_STATUS = re.compile(
    r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.M
)


def parse_h2load_stdout(text):
    out = {}
    m = RE_FINISHED.search(text)
    if m:
        out["rps"] = float(m.group(3))
    m = RE_REQUESTS.search(text)
    if m:
        keys = ("total", "started", "done", "succeeded", "failed", "errored",
                "timeout")
        out.update({k: int(v) for k, v in zip(keys, m.groups())})
    m = RE_STATUS.search(text)
    if m:
        keys = ("s2xx", "s3xx", "s4xx", "s5xx")
        out.update({k: int(v) for k, v in zip(keys, m.groups())})
    return out


def parse_log(path):
    durations = []
    failed_streams = 0
    non_2xx = 0
    with open(path, "r", encoding="ascii", errors="replace") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 3:
                continue
            try:
                status = int(cols[1])
                dur_us = int(cols[2])
            except ValueError:
                continue
            if status < 0:
                failed_streams += 1
                continue
            if not 200 <= status < 300:
                non_2xx += 1
            durations.append(dur_us)
    durations.sort()
    res = {
        "log_rows": len(durations) + failed_streams,
        "log_failed_streams": failed_streams,
        "log_non_2xx": non_2xx,
    }
    for name, p in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99),
                    ("p999_ms", 99.9)):
        v = percentile(durations, p)
        res[name] = None if v is None else v / 1000.0
    res["max_ms"] = durations[-1] / 1000.0 if durations else None
    return res


def cmd_run(args):
    with open(args.stdout, "r", encoding="utf-8", errors="replace") as f:
        text = f.read()
    rec = {"server": args.server, "run": args.run, "h2load_rc": args.rc}
    rec.update(parse_h2load_stdout(text))
    try:
        rec.update(parse_log(args.log))
    except OSError as e:
        rec["log_error"] = str(e)

    problems = []
    if "rps" not in rec or "total" not in rec:
        problems.append("could not parse h2load output")
    if args.rc not in (None, 0):
        problems.append(f"h2load exit status {args.rc}")
    for k in ("failed", "errored", "timeout"):
        if rec.get(k):
            problems.append(f"{rec[k]} {k}")
    bad_status = sum(rec.get(k, 0) for k in ("s3xx", "s4xx", "s5xx"))
    if bad_status:
        problems.append(f"{bad_status} non-2xx responses")
    if rec.get("log_failed_streams"):
        problems.append(f"{rec['log_failed_streams']} failed streams in log")
    if rec.get("p99_ms") is None:
        problems.append("no latency samples in log")
    if "log_error" in rec:
        problems.append("log file unreadable")
    rec["problems"] = problems
    print(json.dumps(rec, sort_keys=True))
    return 0


# --------------------------------------------------------------------------
# report


def load_results(path):
    rows = []
    with open(path, "r", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def cmd_report(args):
    rows = load_results(args.results)
    by_server = {}
    for r in rows:
        by_server.setdefault(r["server"], []).append(r)

    out = []
    if args.settings:
        out.append(args.settings)
        out.append("")

    # Per-run detail.
    out.append("per run:")
    out.append(f"  {'server':<14} {'run':>3} {'req/s':>12} {'p50 ms':>9} "
               f"{'p99 ms':>9} {'requests':>10}  status")
    for r in rows:
        status = "ok" if not r.get("problems") else "; ".join(r["problems"])
        out.append(
            f"  {LABELS.get(r['server'], r['server']):<14} {r['run']:>3} "
            f"{fmt(r.get('rps'), 0):>12} {fmt(r.get('p50_ms')):>9} "
            f"{fmt(r.get('p99_ms')):>9} {r.get('total', 0):>10}  {status}")
    out.append("")

    # Summary: median over runs.
    summary = {}
    out.append("summary (median over runs):")
    out.append(f"  {'server':<14} {'runs':>4} {'req/s':>12} {'p50 ms':>9} "
               f"{'p99 ms':>9}  errors")
    for s in SERVERS:
        runs = by_server.get(s)
        if not runs:
            continue
        med = {m: median(r.get(m) for r in runs)
               for m in ("rps", "p50_ms", "p99_ms")}
        summary[s] = med
        bad = sum(1 for r in runs if r.get("problems"))
        err = "none" if not bad else f"{bad} run(s) with failures"
        out.append(
            f"  {LABELS[s]:<14} {len(runs):>4} {fmt(med['rps'], 0):>12} "
            f"{fmt(med['p50_ms']):>9} {fmt(med['p99_ms']):>9}  {err}")
    out.append("")

    # Ratios and targets.
    out.append("targets:")
    for label, num, den, metric, op, thr in TARGETS:
        a = summary.get(num, {}).get(metric)
        b = summary.get(den, {}).get(metric)
        if a is None or b is None or b == 0:
            out.append(f"  {label:<24} {'n/a':>8}   target {op} {thr:.2f}   "
                       f"SKIP (needs {num} and {den})")
            continue
        ratio = a / b
        ok = ratio >= thr if op == ">=" else ratio <= thr
        out.append(f"  {label:<24} {ratio:>7.2f}x   target {op} {thr:.2f}   "
                   f"{'PASS' if ok else 'MISS'}")

    print("\n".join(out))
    any_bad = any(r.get("problems") for r in rows)
    return 2 if any_bad else 0


# --------------------------------------------------------------------------


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("body")
    p.add_argument("out")
    p.set_defaults(func=cmd_body)

    p = sub.add_parser("free-port")
    p.set_defaults(func=cmd_free_port)

    p = sub.add_parser("cpu-busy")
    p.add_argument("seconds", nargs="?", type=float, default=1.0)
    p.set_defaults(func=cmd_cpu_busy)

    p = sub.add_parser("run")
    p.add_argument("--server", required=True)
    p.add_argument("--run", type=int, required=True)
    p.add_argument("--stdout", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--rc", type=int, default=None)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report")
    p.add_argument("results")
    p.add_argument("--settings", default="")
    p.set_defaults(func=cmd_report)

    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
