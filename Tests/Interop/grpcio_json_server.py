#!/usr/bin/env python3
"""Reference gRPC server built on stock grpcio, for Hayon's client to call.

Implements hayon.diagnostics.v1.Diagnostics with JSON message bodies
(Echo, Expand, Fail, Sleep) plus the standard grpc.health.v1.Health service.

Usage: grpcio_json_server.py [--token TOKEN] [--no-stdin-watch]

Binds 127.0.0.1 on an ephemeral port, prints exactly one line
``listening on 127.0.0.1:PORT`` to stdout and then serves until SIGTERM or
SIGINT, or until stdin reaches EOF (so that a parent test process that dies
takes this server down with it). Pass --no-stdin-watch when running it by
hand with stdin redirected from /dev/null.
"""

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVICE = "hayon.diagnostics.v1.Diagnostics"
MAX_EXPAND_COUNT = 10000
STOP_GRACE_SECONDS = 1.0


class _InvalidJSON:
    """Marker returned by the deserializer when the body is not valid JSON."""

    def __init__(self, reason):
        self.reason = reason


def _deserialize(data):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return _InvalidJSON(str(exc))


def _serialize(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


_STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class Diagnostics:
    def __init__(self, token):
        self._token = token

    # -- helpers -----------------------------------------------------------

    def _check_auth(self, context):
        if self._token is None:
            return
        expected = "Bearer " + self._token
        for key, value in context.invocation_metadata():
            if key == "authorization" and value == expected:
                return
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

    @staticmethod
    def _parse(request, context, fields):
        """Validates a decoded request. fields maps name -> (predicate, required)."""
        if isinstance(request, _InvalidJSON):
            context.abort(grpc.StatusCode.INTERNAL, "could not decode request JSON: " + request.reason)
        if not isinstance(request, dict):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request must be a JSON object")
        out = {}
        for name, (predicate, required) in fields.items():
            if name not in request:
                if required:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "missing field '%s'" % name)
                out[name] = None
                continue
            if not predicate(request[name]):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "field '%s' has the wrong type" % name)
            out[name] = request[name]
        return out

    # -- methods -----------------------------------------------------------

    def echo(self, request, context):
        self._check_auth(context)
        req = self._parse(request, context, {"message": (lambda v: isinstance(v, str), True)})
        trailers = [("x-echo-server", "grpcio")]
        for key, value in context.invocation_metadata():
            if key == "x-request-tag":
                trailers.append(("x-request-tag", value))
        context.set_trailing_metadata(tuple(trailers))
        return {"message": req["message"]}

    def expand(self, request, context):
        self._check_auth(context)
        req = self._parse(
            request,
            context,
            {"message": (lambda v: isinstance(v, str), True), "count": (_is_int, True)},
        )
        count = req["count"]
        if count < 0 or count > MAX_EXPAND_COUNT:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "count must be between 0 and %d" % MAX_EXPAND_COUNT,
            )
        for index in range(count):
            if not context.is_active():
                return
            yield {"message": req["message"], "index": index}

    def fail(self, request, context):
        self._check_auth(context)
        req = self._parse(
            request,
            context,
            {"code": (_is_int, True), "message": (lambda v: isinstance(v, str), False)},
        )
        code = req["code"]
        if not 1 <= code <= 16:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "code must be between 1 and 16")
        context.abort(_STATUS_BY_NUMBER[code], req["message"] or "")

    def sleep(self, request, context):
        self._check_auth(context)
        req = self._parse(request, context, {"milliseconds": (_is_int, True)})
        milliseconds = req["milliseconds"]
        if milliseconds < 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "milliseconds must be >= 0")
        done = threading.Event()
        # Fires when the RPC terminates for any reason (cancel, deadline, ...).
        if not context.add_callback(done.set):
            return None
        start = time.monotonic()
        cancelled = done.wait(milliseconds / 1000.0)
        if cancelled or not context.is_active():
            context.abort(grpc.StatusCode.CANCELLED, "sleep cancelled")
        slept = int(round((time.monotonic() - start) * 1000))
        return {"sleptMilliseconds": slept}


def build_server(token):
    diagnostics = Diagnostics(token)

    def unary(fn):
        return grpc.unary_unary_rpc_method_handler(
            fn, request_deserializer=_deserialize, response_serializer=_serialize
        )

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": unary(diagnostics.echo),
            "Expand": grpc.unary_stream_rpc_method_handler(
                diagnostics.expand,
                request_deserializer=_deserialize,
                response_serializer=_serialize,
            ),
            "Fail": unary(diagnostics.fail),
            "Sleep": unary(diagnostics.sleep),
        },
    )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    server.add_generic_rpc_handlers((handler,))

    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)

    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        raise RuntimeError("could not bind 127.0.0.1:0")
    return server, port


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token", help="require metadata 'authorization: Bearer TOKEN'")
    parser.add_argument(
        "--no-stdin-watch",
        action="store_true",
        help="do not stop when stdin reaches EOF",
    )
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    server, port = build_server(args.token)
    server.start()

    if not args.no_stdin_watch:

        def watch_stdin():
            # Raw os.read on fd 0 (not sys.stdin): a daemon thread blocked in a
            # buffered read would hold the buffer's lock at interpreter exit.
            try:
                while os.read(0, 65536):
                    pass
            except OSError:
                pass
            stop.set()

        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()

    sys.stdout.write("listening on 127.0.0.1:%d\n" % port)
    sys.stdout.flush()

    while not stop.wait(0.5):
        pass

    server.stop(STOP_GRACE_SECONDS).wait(STOP_GRACE_SECONDS + 1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
