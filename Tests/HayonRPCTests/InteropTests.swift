import Foundation
import HayonTestSupport
import HayonDiagnostics
import HayonHTTP2
@testable import HayonRPC
import Synchronization
import Testing

@Suite("Interop with stock clients and servers")
struct InteropTests {
  private static let echoPath = "/\(Diagnostics.serviceName)/Echo"
  private static let unicodeText = "h\u{e9}llo \u{2603} \u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467} \u{2265} 100%"

  private func framedEcho(_ text: String) throws -> [UInt8] {
    MessageFraming.frame(Array(try JSONEncoder().encode(Diagnostics.EchoRequest(message: text))))
  }

  private func grpcHeaders(token: String? = testToken, contentType: String = "application/grpc") -> [String] {
    var headers = ["content-type: \(contentType)", "te: trailers"]
    if let token { headers.append("authorization: Bearer \(token)") }
    return headers
  }

  // MARK: curl and nghttp against our server

  @Test func curlEchoWithPriorKnowledge() async throws {
    try await withTestServer { _, address in
      let curl = try await curlPOST(
        url: "http://127.0.0.1:\(address.port)\(Self.echoPath)", body: try framedEcho(Self.unicodeText),
        headers: grpcHeaders(), arguments: ["--http2-prior-knowledge"])
      #expect(curl.result.succeeded, "\(curl.result)")
      #expect(curl.httpCode == "200")
      #expect(curl.httpVersion == "2")
      // curl's -D dump holds the response headers and, after a blank line, the trailers.
      #expect(curl.headerLines.contains("content-type: application/grpc"), "headers:\n\(curl.headerText)")
      #expect(curl.headerLines.contains("grpc-status: 0"), "headers:\n\(curl.headerText)")
      let body = [UInt8](curl.body)
      try #require(body.count >= 5, "body: \(body)")
      #expect(body[0] == 0, "compressed flag")
      let length = Int(body[1]) << 24 | Int(body[2]) << 16 | Int(body[3]) << 8 | Int(body[4])
      #expect(length == body.count - 5)
      let echoed = try JSONDecoder().decode(Diagnostics.EchoResponse.self, from: Data(body[5...]))
      #expect(echoed.message == Self.unicodeText)
    }
  }

  @Test func curlWithoutCredentialsGetsUnauthenticated() async throws {
    try await withTestServer { _, address in
      let curl = try await curlPOST(
        url: "http://127.0.0.1:\(address.port)\(Self.echoPath)", body: try framedEcho("no token"),
        headers: grpcHeaders(token: nil), arguments: ["--http2-prior-knowledge"])
      #expect(curl.result.succeeded, "\(curl.result)")
      #expect(curl.httpCode == "200")
      #expect(curl.headerLines.contains("grpc-status: 16"), "headers:\n\(curl.headerText)")
      #expect(curl.body.isEmpty)

      let wrong = try await curlPOST(
        url: "http://127.0.0.1:\(address.port)\(Self.echoPath)", body: try framedEcho("wrong token"),
        headers: grpcHeaders(token: "not-\(testToken)"), arguments: ["--http2-prior-knowledge"])
      #expect(wrong.headerLines.contains("grpc-status: 16"), "headers:\n\(wrong.headerText)")
    }
  }

  @Test func curlWithJSONContentTypeGets415() async throws {
    try await withTestServer { _, address in
      let curl = try await curlPOST(
        url: "http://127.0.0.1:\(address.port)\(Self.echoPath)", body: Array(#"{"message":"plain json"}"#.utf8),
        headers: grpcHeaders(contentType: "application/json"), arguments: ["--http2-prior-knowledge"])
      #expect(curl.result.succeeded, "\(curl.result)")
      #expect(curl.httpCode == "415", "headers:\n\(curl.headerText)")
      #expect(!curl.headerLines.contains { $0.hasPrefix("grpc-status:") }, "headers:\n\(curl.headerText)")
    }
  }

  @Test func nghttpShowsHeadersDataThenTrailers() async throws {
    try await withTestServer { _, address in
      try await withTemporaryDirectory { directory in
        let bodyFile = directory.appendingPathComponent("request.bin")
        try Data(try framedEcho("via nghttp")).write(to: bodyFile)
        var arguments = ["-v", "-t", "20"]
        for header in grpcHeaders() { arguments += ["-H", header] }
        arguments += ["-d", bodyFile.path, "http://127.0.0.1:\(address.port)\(Self.echoPath)"]
        let result = try await runProcess("nghttp", arguments, timeout: .seconds(30))
        #expect(result.succeeded, "\(result)")
        let output = String(decoding: result.stdout, as: UTF8.self)

        // recv HEADERS (the response head), then recv DATA, then the trailers, whose HEADERS frame
        // ends the stream.
        let head = try #require(output.range(of: "recv HEADERS frame"), "\(output)")
        let data = try #require(output.range(of: "recv DATA frame", range: head.upperBound..<output.endIndex), "\(output)")
        let status = try #require(output.range(of: "grpc-status: 0", range: data.upperBound..<output.endIndex), "\(output)")
        let trailers = try #require(output.range(of: "recv HEADERS frame", range: status.upperBound..<output.endIndex), "\(output)")
        let flags = output[trailers.upperBound...].prefix(200)
        #expect(flags.contains("END_STREAM"), "\(flags)")
        #expect(output[..<head.lowerBound].contains(":status: 200"), "\(output)")
        #expect(output.contains(#"{"message":"via nghttp"}"#), "\(output)")
        #expect(!output.contains("RST_STREAM"), "\(output)")
      }
    }
  }

  // MARK: The stock grpcio client against our server

  @Test func stockGrpcioClientPassesAllChecks() async throws {
    try await withTestServer { _, address in
      let result = try await runProcess(
        testPythonPath,
        [interopScript("grpcio_client_checks.py"), "--target", "127.0.0.1:\(address.port)", "--token", testToken],
        timeout: .seconds(120))
      #expect(!result.timedOut, "\(result)")
      #expect(result.status == 0, "\(result)")
      let lines = result.stdoutText.split(whereSeparator: \.isNewline).map(String.init)
      let failures = lines.filter { $0.hasPrefix("FAIL") }
      #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
      let last = try #require(lines.last, "\(result)")
      #expect(last.wholeMatch(of: /\d+ passed, 0 failed/) != nil, "\(result)")
      #expect(!last.hasPrefix("0 passed"), "\(result)")
    }
  }

  // MARK: Our client against the stock grpcio server

  /// Runs `body` against `Tests/Interop/grpcio_json_server.py`, which is always stopped afterwards.
  private func withGrpcioServer<T>(_ body: (SocketAddress) async throws -> T) async throws -> T {
    try await withChildProcess(command: testPythonPath, arguments: [interopScript("grpcio_json_server.py"), "--token", testToken]) { child in
      let line = try await child.waitForLine(timeout: .seconds(30)) { $0.hasPrefix("listening on ") }
      let address = try #require(SocketAddress(parsing: String(line.dropFirst("listening on ".count))), "\(line)")
      return try await body(address)
    }
  }

  @Test func echoAgainstGrpcioServer() async throws {
    try await withGrpcioServer { address in
      let client = Diagnostics.Client(try makeClient(address))
      #expect(try await client.echo(.init(message: Self.unicodeText)).message == Self.unicodeText)
      #expect(try await client.echo(.init(message: "")).message == "")
      let large = String(repeating: "0123456789abcdef", count: 16384)
      #expect(try await client.echo(.init(message: large)).message == large)
      await client.rpc.close()
    }
  }

  @Test func echoTrailingMetadataFromGrpcioServer() async throws {
    try await withGrpcioServer { address in
      let rpc = try makeClient(address)
      let response = try await rpc.callWithMetadata(
        Diagnostics.Method.Echo.self, .init(message: "tagged"), options: CallOptions(metadata: ["x-request-tag": "tag-42"]))
      #expect(response.message.message == "tagged")
      #expect(response.trailingMetadata["x-echo-server"] == "grpcio", "\(response.trailingMetadata)")
      #expect(response.trailingMetadata["x-request-tag"] == "tag-42", "\(response.trailingMetadata)")
      #expect(response.trailingMetadata["grpc-status"] == nil)
      await rpc.close()
    }
  }

  @Test func expandAgainstGrpcioServer() async throws {
    try await withGrpcioServer { address in
      let client = Diagnostics.Client(try makeClient(address))
      let received = Mutex<[Diagnostics.ExpandResponse]>([])
      try await client.expand(.init(message: "m\u{e9}", count: 5)) { response in received.withLock { $0.append(response) } }
      let responses = received.withLock { $0 }
      #expect(responses == (0..<5).map { Diagnostics.ExpandResponse(message: "m\u{e9}", index: $0) })

      let none = Mutex(0)
      try await client.expand(.init(message: "x", count: 0)) { _ in none.withLock { $0 += 1 } }
      #expect(none.withLock { $0 } == 0)
      await expectRPCError(.invalidArgument) { try await client.expand(.init(message: "x", count: -1)) { _ in } }
      await client.rpc.close()
    }
  }

  @Test func failStatusAndMessageFromGrpcioServer() async throws {
    try await withGrpcioServer { address in
      let client = Diagnostics.Client(try makeClient(address))
      let message = "a must be \u{2265} 0 (100% sure)"
      let error = await expectRPCError(.invalidArgument) { _ = try await client.fail(.init(code: 3, message: message)) }
      #expect(error?.message == message)
      let unavailable = await expectRPCError(.unavailable) {
        _ = try await client.fail(.init(code: 14, message: "try later"))
      }
      #expect(unavailable?.message == "try later")
      await client.rpc.close()
    }
  }

  @Test func deadlineAgainstGrpcioServer() async throws {
    try await withGrpcioServer { address in
      let client = Diagnostics.Client(try makeClient(address))
      let start = ContinuousClock.now
      await expectRPCError(.deadlineExceeded) {
        _ = try await client.sleep(.init(milliseconds: 2000), options: CallOptions(timeout: .milliseconds(300)))
      }
      let elapsed = ContinuousClock.now - start
      #expect(elapsed < .milliseconds(1500), "took \(elapsed)")
      // The connection is still good afterwards.
      #expect(try await client.sleep(.init(milliseconds: 10)).sleptMilliseconds >= 0)
      await client.rpc.close()
    }
  }

  @Test func credentialsAgainstGrpcioServer() async throws {
    try await withGrpcioServer { address in
      let wrong = Diagnostics.Client(try makeClient(address, token: "wrong-\(testToken)"))
      await expectRPCError(.unauthenticated) { _ = try await wrong.echo(.init(message: "x")) }
      await wrong.rpc.close()
      let missing = Diagnostics.Client(try makeClient(address, token: nil))
      await expectRPCError(.unauthenticated) { _ = try await missing.echo(.init(message: "x")) }
      await missing.rpc.close()
    }
  }

  @Test func rawHealthCheckAgainstGrpcioServer() async throws {
    try await withGrpcioServer { address in
      let connection = try await HTTP2ClientConnector.connect(to: address, tls: nil)
      let (events, continuation) = AsyncStream<RecordedStreamEvent>.makeStream()
      let headers = [
        HTTP2Header(":method", "POST"), HTTP2Header(":scheme", "http"),
        HTTP2Header(":path", "/grpc.health.v1.Health/Check"), HTTP2Header(":authority", address.description),
        HTTP2Header("te", "trailers"), HTTP2Header("content-type", "application/grpc"),
      ]
      // An empty HealthCheckRequest (service "") is an empty protobuf message.
      _ = try await connection.openStream(
        headers: headers, body: MessageFraming.frame([]), timeout: .seconds(10),
        delegate: RecordingDelegate(continuation))
      var recorded: [RecordedStreamEvent] = []
      for await event in events { recorded.append(event) }
      await connection.beginGracefulShutdown(gracePeriod: .seconds(1))

      let headerBlocks = recorded.compactMap { event -> (headers: [HTTP2Header], endStream: Bool)? in
        if case .headers(let headers, let endStream) = event { return (headers, endStream) }
        return nil
      }
      guard headerBlocks.count == 2, let head = headerBlocks.first, !head.endStream,
        let trailers = headerBlocks.last, trailers.endStream, case .closed(.finished) = recorded.last
      else {
        Issue.record("unexpected events \(recorded)")
        return
      }
      #expect(head.headers[first: ":status"] == "200")
      #expect(trailers.headers[first: "grpc-status"] == "0")
      var body: [UInt8] = []
      for case .data(let bytes) in recorded { body += bytes }
      // HealthCheckResponse{status: SERVING}: field 1, varint 1.
      #expect(body == MessageFraming.frame([0x08, 0x01]))
    }
  }
}

/// A stream event copied out of the loop, for tests that drive `HTTP2Connection` directly.
private enum RecordedStreamEvent: Sendable {
  case headers([HTTP2Header], endStream: Bool)
  case data([UInt8])
  case end
  case closed(HTTP2StreamCloseReason)
}

/// Forwards every event of one client stream to an `AsyncStream`, finishing it on close.
private final class RecordingDelegate: HTTP2StreamDelegate {
  private let continuation: AsyncStream<RecordedStreamEvent>.Continuation

  init(_ continuation: AsyncStream<RecordedStreamEvent>.Continuation) {
    self.continuation = continuation
  }

  func receive(_ event: HTTP2StreamEvent, stream: HTTP2StreamHandle) -> HTTP2StreamReply? {
    switch event {
    case .headers(let headers, let endStream): continuation.yield(.headers(headers, endStream: endStream))
    case .data(let bytes): continuation.yield(.data(Array(bytes)))
    case .end: continuation.yield(.end)
    }
    return nil
  }

  func closed(_ reason: HTTP2StreamCloseReason) {
    continuation.yield(.closed(reason))
    continuation.finish()
  }
}
