import HayonDiagnostics
import HayonHTTP2
import Testing
@testable import HayonRPC

/// Each bad request gets a clear status, and the server keeps serving afterwards.
@Suite("Bad input")
struct BadInputTests {
  private func expectStatus(
    _ response: RawResponse, _ code: RPCStatusCode, containing fragment: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(response.httpStatus == "200", sourceLocation: sourceLocation)
    #expect(response.grpcStatus == code.rawValue, "got \(String(describing: response.grpcStatus)) \(String(describing: response.grpcMessage))", sourceLocation: sourceLocation)
    #expect(response.grpcMessage?.contains(fragment) == true, "message: \(String(describing: response.grpcMessage))", sourceLocation: sourceLocation)
    // Errors are trailers-only: one header block, no body.
    #expect(response.trailers.isEmpty && response.body.isEmpty, sourceLocation: sourceLocation)
  }

  private func stillServes(_ address: SocketAddress) async throws {
    let client = Diagnostics.Client(try makeClient(address))
    #expect(try await client.echo(.init(message: "still here")).message == "still here")
    await client.rpc.close()
  }

  @Test func validRawCallSucceeds() async throws {
    try await withTestServer { _, address in
      let response = try await rawCall(address, body: framedJSON(#"{"message":"raw"}"#))
      #expect(response.httpStatus == "200")
      #expect(response.headers[first: "content-type"] == "application/grpc")
      #expect(response.grpcStatus == 0)
      #expect(response.body == framedJSON(#"{"message":"raw"}"#))
      #expect(response.closeReason == .finished)
    }
  }

  @Test func plainJSONAndPlusJSONContentTypesBothMeanJSON() async throws {
    try await withTestServer { _, address in
      for type in ["application/grpc", "application/grpc+json", "application/grpc+json; charset=utf-8"] {
        let response = try await rawCall(address, replacing: ["content-type": type], body: framedJSON(#"{"message":"x"}"#))
        #expect(response.grpcStatus == 0, "\(type)")
        #expect(response.headers[first: "content-type"] == "application/grpc")
      }
    }
  }

  @Test func wrongContentTypeIsHTTP415() async throws {
    try await withTestServer { _, address in
      for type in ["application/json", "text/plain", "application/grpc-web"] as [String?] + [nil] {
        let response = try await rawCall(address, replacing: ["content-type": type], body: framedJSON("{}"))
        #expect(response.httpStatus == "415", "\(String(describing: type))")
        #expect(response.grpcStatus == nil)
      }
      let unknownSubtype = try await rawCall(address, replacing: ["content-type": "application/grpc+proto"], body: framedJSON("{}"))
      #expect(unknownSubtype.httpStatus == "415")
      try await stillServes(address)
    }
  }

  @Test func unknownMethodIsUnimplemented() async throws {
    try await withTestServer { _, address in
      let response = try await rawCall(address, path: "/hayon.diagnostics.v1.Diagnostics/Missing", body: framedJSON("{}"))
      expectStatus(response, .unimplemented, containing: "unknown method /hayon.diagnostics.v1.Diagnostics/Missing")
      let other = try await rawCall(address, path: "/nope", body: framedJSON("{}"))
      expectStatus(other, .unimplemented, containing: "unknown method")
    }
  }

  @Test func oversizedLengthPrefixIsRejectedWithoutReadingTheMessage() async throws {
    try await withTestServer(configure: { $0.maxMessageSize = 1024 }) { _, address in
      // Declare 1 GiB, send 16 bytes of it and keep the request open: the server answers from
      // the prefix alone, before the request ends.
      let body: [UInt8] = [0, 0x40, 0, 0, 0] + [UInt8](repeating: 0x41, count: 16)
      let response = try await rawCall(address, body: body, endRequest: false)
      expectStatus(response, .resourceExhausted, containing: "1073741824 bytes exceeds the limit of 1024 bytes")
      #expect(response.finishedBeforeRequestEnded)
      try await stillServes(address)
    }
  }

  @Test func messageAtTheLimitIsAcceptedAndOneByteMoreIsNot() async throws {
    try await withTestServer(configure: { $0.maxMessageSize = 64 }) { _, address in
      let fits = #"{"message":""# + String(repeating: "a", count: 64 - 14) + #""}"#
      #expect(fits.utf8.count == 64)
      #expect(try await rawCall(address, body: framedJSON(fits)).grpcStatus == 0)
      let tooBig = #"{"message":""# + String(repeating: "a", count: 65 - 14) + #""}"#
      expectStatus(try await rawCall(address, body: framedJSON(tooBig)), .resourceExhausted, containing: "65 bytes")
    }
  }

  @Test func truncatedMessageIsInternal() async throws {
    try await withTestServer { _, address in
      let framed = framedJSON(#"{"message":"cut"}"#)
      expectStatus(try await rawCall(address, body: Array(framed.dropLast(3))), .internal, containing: "3 bytes missing")
      expectStatus(try await rawCall(address, body: [0, 0]), .internal, containing: "ended inside a message")
    }
  }

  @Test func compressedFlagWithoutEncodingIsInternal() async throws {
    try await withTestServer { _, address in
      var framed = framedJSON(#"{"message":"x"}"#)
      framed[0] = 1
      let expected = "compressed flag set, but this call's grpc-encoding is identity (none negotiated)"
      expectStatus(try await rawCall(address, body: framed), .internal, containing: expected)
      // Naming identity is no different from naming nothing.
      let named = try await rawCall(address, headers: [HTTP2Header("grpc-encoding", "identity")], body: framed)
      expectStatus(named, .internal, containing: expected)
    }
  }

  @Test func unsupportedEncodingIsUnimplemented() async throws {
    try await withTestServer { _, address in
      let response = try await rawCall(address, headers: [HTTP2Header("grpc-encoding", "gzip")], body: framedJSON("{}"))
      expectStatus(response, .unimplemented, containing: "unsupported grpc-encoding 'gzip'")
    }
  }

  @Test func invalidJSONIsInternalAndWrongShapeIsInvalidArgument() async throws {
    try await withTestServer { _, address in
      expectStatus(try await rawCall(address, body: framedJSON("{not json")), .internal, containing: "not valid JSON")
      expectStatus(try await rawCall(address, body: framedJSON(#"{"message": 5}"#)), .invalidArgument, containing: "'message': expected a string")
      expectStatus(try await rawCall(address, body: framedJSON(#"{}"#)), .invalidArgument, containing: "missing field 'message'")
      expectStatus(try await rawCall(address, body: framedJSON(#"[1,2]"#)), .invalidArgument, containing: "expected an object")
      // Well-formed numbers that do not fit: the field is named, not "invalid JSON".
      for number in ["1e30", "9223372036854775808", "1.5"] {
        let response = try await rawCall(
          address, path: "/hayon.diagnostics.v1.Diagnostics/Expand", body: framedJSON(#"{"message":"x","count":\#(number)}"#))
        expectStatus(response, .invalidArgument, containing: "invalid value at 'count'")
      }
      let deep = String(repeating: "[", count: 100_000)
      expectStatus(try await rawCall(address, body: framedJSON(deep)), .internal, containing: "not valid JSON")
      try await stillServes(address)
    }
  }

  @Test func unaryNeedsExactlyOneMessage() async throws {
    try await withTestServer { _, address in
      expectStatus(try await rawCall(address, body: []), .unimplemented, containing: "exactly one request message, got 0")
      let two = framedJSON(#"{"message":"a"}"#) + framedJSON(#"{"message":"b"}"#)
      expectStatus(try await rawCall(address, body: two), .unimplemented, containing: "exactly one request message")
    }
  }

  /// The gRPC library itself never answers INVALID_ARGUMENT (that code is the application's);
  /// a malformed call head is INTERNAL, as grpc-go answers a malformed grpc-timeout.
  @Test func malformedTimeoutAndNonPostAreInternal() async throws {
    try await withTestServer { _, address in
      let timeout = try await rawCall(address, headers: [HTTP2Header("grpc-timeout", "soon")], body: framedJSON("{}"))
      expectStatus(timeout, .internal, containing: "malformed grpc-timeout 'soon'")
      let put = try await rawCall(address, replacing: [":method": "PUT"], body: framedJSON(#"{"message":"x"}"#))
      expectStatus(put, .internal, containing: "gRPC calls must use POST")
    }
  }

  @Test func credentialsAreCheckedBeforeTheBodyIsRead() async throws {
    try await withTestServer { _, address in
      let missing = try await rawCall(address, replacing: ["authorization": nil], body: framedJSON(#"{"message":"x"}"#))
      expectStatus(missing, .unauthenticated, containing: "credentials")
      let wrong = try await rawCall(address, replacing: ["authorization": "Bearer \(testToken)x"], body: framedJSON(#"{"message":"x"}"#))
      expectStatus(wrong, .unauthenticated, containing: "credentials")
      let basic = try await rawCall(address, replacing: ["authorization": "Basic \(testToken)"], body: framedJSON(#"{"message":"x"}"#))
      expectStatus(basic, .unauthenticated, containing: "credentials")
      #expect(missing.grpcMessage?.contains(testToken) == false)
    }
  }

  @Test func oversizedHeadersAreJudgedBeforeTheContentTypeTheyPushedOut() async throws {
    try await withTestServer { _, address in
      // The big header comes first, so content-type lands past the limit and is dropped.
      let response = try await rawCall(
        address,
        headers: [HTTP2Header("x-big", String(repeating: "v", count: 20_000)), HTTP2Header("content-type", "application/grpc")],
        replacing: ["content-type": nil], body: framedJSON(#"{"message":"x"}"#))
      expectStatus(response, .resourceExhausted, containing: "header list exceeds")
    }
  }

  @Test func hugeStatusMessagesAreTruncatedNotDropped() async throws {
    try await withTestServer { _, address in
      let client = Diagnostics.Client(try makeClient(address, configure: { $0.maxAttempts = 1 }))
      let error = await expectRPCError(.notFound) {
        _ = try await client.fail(.init(code: 5, message: String(repeating: "a", count: 70_000)))
      }
      #expect(error?.message.hasSuffix("(truncated)") == true)
      // The same through the unauthenticated health check, with a 70,000-character name.
      let health = try await rawCall(
        address, path: "/grpc.health.v1.Health/Check", replacing: ["authorization": nil],
        body: MessageFraming.frame([0x0A, 0xF0, 0xA2, 0x04] + [UInt8](repeating: 0x78, count: 70_000)))
      #expect(health.grpcStatus == RPCStatusCode.notFound.rawValue)
      #expect(health.grpcMessage?.hasSuffix("(truncated)") == true)
      await client.rpc.close()
    }
  }

  @Test func aHeaderBlockTooLargeToSendResetsTheStream() async throws {
    let probe = ProbeService()
    try await withTestServer(services: [probe]) { _, address in
      let client = try makeClient(address, configure: { $0.maxAttempts = 1 })
      // nghttp2 cannot send 100 KB of trailers; the caller must hear about it, not wait.
      await expectRPCError(.internal) {
        _ = try await client.call(ProbeService.HugeTrailers.self, .init(), options: CallOptions(timeout: .seconds(5)))
      }
      await client.close()
    }
  }

  @Test func healthCheckSpeaksProtobufWithoutCredentials() async throws {
    try await withTestServer { _, address in
      let path = "/grpc.health.v1.Health/Check"
      let overall = try await rawCall(address, path: path, replacing: ["authorization": nil], body: MessageFraming.frame([]))
      #expect(overall.grpcStatus == 0)
      #expect(overall.body == [0, 0, 0, 0, 2, 0x08, 0x01])
      let named = [0x0A, UInt8(Diagnostics.serviceName.utf8.count)] + Array(Diagnostics.serviceName.utf8)
      let service = try await rawCall(address, path: path, replacing: ["authorization": nil], body: MessageFraming.frame(named))
      #expect(service.body == [0, 0, 0, 0, 2, 0x08, 0x01])
      let unknown = try await rawCall(address, path: path, replacing: ["authorization": nil], body: MessageFraming.frame([0x0A, 3] + Array("foo".utf8)))
      expectStatus(unknown, .notFound, containing: "unknown service 'foo'")
      let json = try await rawCall(
        address, path: path, replacing: ["authorization": nil, "content-type": "application/grpc+json"],
        body: framedJSON(#"{"service":""}"#))
      #expect(json.body == framedJSON(#"{"status":"SERVING"}"#))
      let garbage = try await rawCall(address, path: path, replacing: ["authorization": nil], body: MessageFraming.frame([0x0A, 0x7F, 1]))
      expectStatus(garbage, .internal, containing: "malformed HealthCheckRequest")
    }
  }
}
