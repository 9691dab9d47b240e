#!/usr/bin/env python3
"""Interop checks: a stock grpcio client against a Hayon gRPC/JSON server.

Usage: grpcio_client_checks.py --target HOST:PORT --token TOKEN [--against-reference]

Prints one line per check (``ok NAME`` or ``FAIL NAME: details``) and a final
line ``N passed, M failed``. Exits 0 only if every check passed.

--against-reference is for running these checks against the stock grpcio
reference server (Tests/Interop/grpcio_json_server.py). That server mirrors
Hayon's documented behaviour, so no check is relaxed; the flag only adds the
reference-only check "reference_echo_trailers" (x-echo-server: grpcio and the
x-request-tag echo), which Hayon's server is not required to send.
"""

import argparse
import json
import sys
import threading
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICE = "hayon.diagnostics.v1.Diagnostics"
ECHO = "/%s/Echo" % SERVICE
EXPAND = "/%s/Expand" % SERVICE
FAIL = "/%s/Fail" % SERVICE
SLEEP = "/%s/Sleep" % SERVICE
NOPE = "/%s/Nope" % SERVICE

TIMEOUT = 5.0
UNICODE_TEXT = "h\u00e9llo \u2603 \U0001F469\u200D\U0001F469\u200D\U0001F467"
FAIL_DETAILS = "a must be \u2265 0 (100% sure)"



class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def serialize_utf8(obj):
    # Raw UTF-8 on the wire (no \u escapes), so non-ASCII text really travels as UTF-8.
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def serialize_ascii(obj):
    # What a "stock" client typically does: json.dumps escapes non-ASCII as \uXXXX.
    return json.dumps(obj).encode()


def deserialize(data):
    return json.loads(data)


def expect_rpc_error(fn, code, details=None):
    """Runs fn, which must raise grpc.RpcError with the given status code."""
    try:
        result = fn()
    except grpc.RpcError as err:
        got = err.code()
        expect(
            got == code,
            "expected %s, got %s (details %r)" % (code.name, got.name if got else got, err.details()),
        )
        if details is not None:
            expect(err.details() == details, "details %r != expected %r" % (err.details(), details))
        return err
    raise CheckFailed("expected %s, but the call succeeded with %r" % (code.name, result))


class Checks:
    def __init__(self, channel, token, against_reference):
        self.channel = channel
        self.auth = (("authorization", "Bearer " + token),)
        self.wrong_auth = (("authorization", "Bearer wrong-" + token),)
        self.against_reference = against_reference

        self.echo = channel.unary_unary(
            ECHO, request_serializer=serialize_utf8, response_deserializer=deserialize
        )
        self.echo_ascii = channel.unary_unary(
            ECHO, request_serializer=serialize_ascii, response_deserializer=deserialize
        )
        self.echo_raw = channel.unary_unary(
            ECHO, request_serializer=None, response_deserializer=None
        )
        self.expand = channel.unary_stream(
            EXPAND, request_serializer=serialize_utf8, response_deserializer=deserialize
        )
        self.fail = channel.unary_unary(
            FAIL, request_serializer=serialize_utf8, response_deserializer=deserialize
        )
        self.sleep = channel.unary_unary(
            SLEEP, request_serializer=serialize_utf8, response_deserializer=deserialize
        )
        self.nope = channel.unary_unary(
            NOPE, request_serializer=serialize_utf8, response_deserializer=deserialize
        )
        self.health = health_pb2_grpc.HealthStub(channel)

    # -- connectivity --------------------------------------------------------

    def check_connect(self):
        try:
            grpc.channel_ready_future(self.channel).result(timeout=10)
        except grpc.FutureTimeoutError:
            raise CheckFailed("channel not ready within 10 s")

    # -- Echo ---------------------------------------------------------------

    def _echo_round_trip(self, stub, text):
        response, call = stub.with_call(
            {"message": text},
            timeout=TIMEOUT,
            metadata=self.auth + (("x-request-tag", "tag-123"),),
        )
        expect(response == {"message": text}, "response %r != %r" % (response, {"message": text}))
        expect(call.code() == grpc.StatusCode.OK, "status %s" % call.code())
        trailing = call.trailing_metadata()
        expect(trailing is not None, "trailing metadata is None")
        # Must be iterable as (key, value) pairs.
        pairs = [(m.key, m.value) for m in trailing]
        initial = call.initial_metadata()
        expect(initial is not None, "initial metadata is None")
        return pairs

    def check_reference_echo_trailers(self):
        pairs = self._echo_round_trip(self.echo, "trailers")
        expect(("x-echo-server", "grpcio") in pairs, "x-echo-server: grpcio missing from %r" % pairs)
        expect(("x-request-tag", "tag-123") in pairs, "x-request-tag not echoed in %r" % pairs)

    def check_echo_ascii(self):
        self._echo_round_trip(self.echo, "hello")

    def check_echo_unicode_utf8(self):
        self._echo_round_trip(self.echo, UNICODE_TEXT)

    def check_echo_unicode_escaped(self):
        self._echo_round_trip(self.echo_ascii, UNICODE_TEXT)

    def check_echo_empty_message(self):
        self._echo_round_trip(self.echo, "")

    def check_echo_256k(self):
        # Larger than the default HTTP/2 flow-control window and max frame size.
        text = ("0123456789abcdef" * 16384)[: 256 * 1024]
        self._echo_round_trip(self.echo, text)

    # -- Expand -------------------------------------------------------------

    def _expand(self, count, message="x"):
        call = self.expand({"message": message, "count": count}, timeout=TIMEOUT, metadata=self.auth)
        responses = list(call)
        expect(call.code() == grpc.StatusCode.OK, "final status %s" % call.code())
        return responses

    def check_expand_5(self):
        responses = self._expand(5, message="abc")
        indices = [r.get("index") for r in responses]
        expect(indices == [0, 1, 2, 3, 4], "indices %r" % indices)
        for r in responses:
            expect(isinstance(r.get("message"), str), "message field missing/not a string in %r" % r)

    def check_expand_0(self):
        responses = self._expand(0)
        expect(responses == [], "expected no responses, got %r" % responses[:5])

    def check_expand_10000(self):
        responses = self._expand(10000)
        indices = [r.get("index") for r in responses]
        expect(indices == list(range(10000)), "got %d responses, indices not 0..9999 in order" % len(indices))

    def check_expand_count_out_of_range(self):
        for count in (-1, 10001):
            expect_rpc_error(
                lambda: list(self.expand({"message": "x", "count": count}, timeout=TIMEOUT, metadata=self.auth)),
                grpc.StatusCode.INVALID_ARGUMENT,
            )

    # -- Fail ---------------------------------------------------------------

    def check_fail_invalid_argument_details(self):
        expect_rpc_error(
            lambda: self.fail({"code": 3, "message": FAIL_DETAILS}, timeout=TIMEOUT, metadata=self.auth),
            grpc.StatusCode.INVALID_ARGUMENT,
            details=FAIL_DETAILS,
        )

    def check_fail_unavailable(self):
        expect_rpc_error(
            lambda: self.fail({"code": 14, "message": "try later"}, timeout=TIMEOUT, metadata=self.auth),
            grpc.StatusCode.UNAVAILABLE,
            details="try later",
        )

    def check_fail_code_out_of_range(self):
        for code in (0, 17):
            expect_rpc_error(
                lambda: self.fail({"code": code, "message": "m"}, timeout=TIMEOUT, metadata=self.auth),
                grpc.StatusCode.INVALID_ARGUMENT,
            )

    # -- Auth ---------------------------------------------------------------

    def check_missing_token(self):
        expect_rpc_error(
            lambda: self.echo({"message": "hi"}, timeout=TIMEOUT),
            grpc.StatusCode.UNAUTHENTICATED,
        )

    def check_wrong_token(self):
        expect_rpc_error(
            lambda: self.echo({"message": "hi"}, timeout=TIMEOUT, metadata=self.wrong_auth),
            grpc.StatusCode.UNAUTHENTICATED,
        )

    def check_missing_token_streaming(self):
        expect_rpc_error(
            lambda: list(self.expand({"message": "x", "count": 3}, timeout=TIMEOUT)),
            grpc.StatusCode.UNAUTHENTICATED,
        )

    # -- Unknown method ----------------------------------------------------

    def check_unknown_method(self):
        expect_rpc_error(
            lambda: self.nope({"message": "hi"}, timeout=TIMEOUT, metadata=self.auth),
            grpc.StatusCode.UNIMPLEMENTED,
        )

    # -- Deadlines ----------------------------------------------------------

    def check_sleep_short(self):
        response = self.sleep({"milliseconds": 50}, timeout=TIMEOUT, metadata=self.auth)
        slept = response.get("sleptMilliseconds")
        expect(isinstance(slept, int) and not isinstance(slept, bool), "sleptMilliseconds %r" % (slept,))
        expect(slept >= 40, "sleptMilliseconds %r < 50 ms" % slept)

    def check_sleep_deadline_exceeded(self):
        start = time.monotonic()
        expect_rpc_error(
            lambda: self.sleep({"milliseconds": 2000}, timeout=0.3, metadata=self.auth),
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
        elapsed = time.monotonic() - start
        expect(elapsed < 1.5, "took %.2f s (expected well under 2 s)" % elapsed)

    # -- Malformed bodies --------------------------------------------------

    def check_invalid_json(self):
        expect_rpc_error(
            lambda: self.echo_raw(b"{not json", timeout=TIMEOUT, metadata=self.auth),
            grpc.StatusCode.INTERNAL,
        )

    def check_wrong_shape_json(self):
        expect_rpc_error(
            lambda: self.echo_raw(b'{"message": 5}', timeout=TIMEOUT, metadata=self.auth),
            grpc.StatusCode.INVALID_ARGUMENT,
        )

    # -- Health -------------------------------------------------------------

    def _health(self, service):
        return self.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)

    def check_health_overall(self):
        status = self._health("").status
        expect(status == health_pb2.HealthCheckResponse.SERVING, "status %r" % status)

    def check_health_diagnostics(self):
        status = self._health(SERVICE).status
        expect(status == health_pb2.HealthCheckResponse.SERVING, "status %r" % status)

    def check_health_unknown_service(self):
        expect_rpc_error(lambda: self._health("nope"), grpc.StatusCode.NOT_FOUND)

    # -- Concurrency --------------------------------------------------------

    def check_concurrent_echo_50(self):
        n = 50
        barrier = threading.Barrier(n)

        def one(i):
            barrier.wait(timeout=TIMEOUT)
            text = "concurrent-%d-%s" % (i, UNICODE_TEXT)
            return i, text, self.echo({"message": text}, timeout=10, metadata=self.auth)

        errors = []
        with futures.ThreadPoolExecutor(max_workers=n) as pool:
            for fut in [pool.submit(one, i) for i in range(n)]:
                try:
                    i, text, response = fut.result(timeout=20)
                    if response != {"message": text}:
                        errors.append("call %d: got %r" % (i, response))
                except grpc.RpcError as err:
                    errors.append("%s: %s" % (err.code(), err.details()))
                except Exception as err:  # noqa: BLE001 - report anything
                    errors.append(repr(err))
        expect(not errors, "%d/%d failed; first: %s" % (len(errors), n, errors[:3]))

    def check_concurrent_echo_futures_50(self):
        calls = [
            (i, self.echo.future({"message": "f%d" % i}, timeout=10, metadata=self.auth))
            for i in range(50)
        ]
        bad = []
        for i, fut in calls:
            try:
                response = fut.result()
                if response != {"message": "f%d" % i}:
                    bad.append("call %d: got %r" % (i, response))
            except grpc.RpcError as err:
                bad.append("call %d: %s %s" % (i, err.code(), err.details()))
        expect(not bad, "%d/50 failed; first: %s" % (len(bad), bad[:3]))


ORDER = [
    "connect",
    "echo_ascii",
    "echo_unicode_utf8",
    "echo_unicode_escaped",
    "echo_empty_message",
    "echo_256k",
    "expand_5",
    "expand_0",
    "expand_10000",
    "expand_count_out_of_range",
    "fail_invalid_argument_details",
    "fail_unavailable",
    "fail_code_out_of_range",
    "missing_token",
    "wrong_token",
    "missing_token_streaming",
    "unknown_method",
    "sleep_short",
    "sleep_deadline_exceeded",
    "invalid_json",
    "wrong_shape_json",
    "health_overall",
    "health_diagnostics",
    "health_unknown_service",
    "concurrent_echo_50",
    "concurrent_echo_futures_50",
]

# Only run with --against-reference (or named with --only).
REFERENCE_ONLY = ["reference_echo_trailers"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="HOST:PORT of the server")
    parser.add_argument("--token", required=True, help="bearer token the server accepts")
    parser.add_argument(
        "--against-reference",
        action="store_true",
        help="also run reference-only checks (for Tests/Interop/grpcio_json_server.py)",
    )
    parser.add_argument("--only", action="append", metavar="NAME", help="run only these checks (repeatable)")
    args = parser.parse_args()

    known = ORDER + REFERENCE_ONLY
    names = args.only or (ORDER + (REFERENCE_ONLY if args.against_reference else []))
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error("unknown check(s): %s" % ", ".join(unknown))

    passed = failed = 0
    connected = True
    with grpc.insecure_channel(args.target) as channel:
        checks = Checks(channel, args.token, args.against_reference)
        for name in names:
            if not connected and name != "connect":
                failed += 1
                print("FAIL %s: not run, could not connect to %s" % (name, args.target), flush=True)
                continue
            try:
                getattr(checks, "check_" + name)()
            except CheckFailed as err:
                failed += 1
                print("FAIL %s: %s" % (name, err), flush=True)
            except grpc.RpcError as err:
                failed += 1
                print("FAIL %s: unexpected RPC error %s: %r" % (name, err.code(), err.details()), flush=True)
            except Exception as err:  # noqa: BLE001 - a check must never abort the run
                failed += 1
                print("FAIL %s: %s: %s" % (name, type(err).__name__, err), flush=True)
            else:
                passed += 1
                print("ok %s" % name, flush=True)
                continue
            if name == "connect":
                connected = False

    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
