@testable import HayonRPC
import HayonHTTP2
import Testing

@Suite("Message framing")
struct FramingTests {
  private func deframe(_ chunks: [[UInt8]], limit: Int = 1024) throws -> [[UInt8]] {
    var deframer = MessageDeframer(maxMessageSize: limit)
    var messages: [[UInt8]] = []
    for chunk in chunks {
      try chunk.withUnsafeBytes { raw in try deframer.feed(raw) { messages.append($0) } }
    }
    try deframer.finish()
    return messages
  }

  @Test func framesWithFiveBytePrefix() {
    let json = Array(#"{"a": 1, "b": 2}"#.utf8)
    #expect(MessageFraming.frame(json) == [0, 0, 0, 0, 16] + json)
  }

  /// A codec that only encodes: framing comes from the protocol's default.
  private struct PlainCodec: MessageCodec {
    func encode<T: Encodable>(_ value: T) throws(RPCError) -> [UInt8] { Array("plain".utf8) }
    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(RPCError) -> T {
      throw RPCError(.unimplemented, "not used")
    }
  }

  private struct Sample: Codable, Equatable {
    var message: String
    var count: Int
    var tags: [String]
  }

  @Test("encodeFramed is the encoding behind its prefix, for JSON (written in place) and by default")
  func encodeFramedMatchesFrameOfEncode() throws {
    let codec = JSONMessageCodec()
    let long = String(repeating: "x", count: 70_000)  // past the writer's first buffer and 16 bits of length
    for value in [
      Sample(message: "hi", count: 1, tags: []), Sample(message: long, count: -5, tags: ["a", "b"]),
    ] {
      let framed = try codec.encodeFramed(value)
      #expect(framed == MessageFraming.frame(try codec.encode(value)))
      var deframer = MessageDeframer(maxMessageSize: 1 << 20)
      var messages: [[UInt8]] = []
      try framed.withUnsafeBytes { raw in try deframer.feed(raw) { messages.append($0) } }
      #expect(messages.count == 1)
      #expect(try codec.decode(Sample.self, from: messages[0]) == value)
    }
    #expect(try codec.encodeFramed("") == [0, 0, 0, 0, 2] + Array(#""""#.utf8))
    #expect(try PlainCodec().encodeFramed(1) == [0, 0, 0, 0, 5] + Array("plain".utf8))
  }

  @Test func messageSplitAcrossEveryByteBoundary() throws {
    let framed = MessageFraming.frame(Array("hello, world".utf8))
    for split in 1..<framed.count {
      let messages = try deframe([Array(framed[..<split]), Array(framed[split...])])
      #expect(messages == [Array("hello, world".utf8)], "split at \(split)")
    }
  }

  @Test func oneByteChunks() throws {
    let framed = MessageFraming.frame(Array("abc".utf8)) + MessageFraming.frame(Array("de".utf8))
    #expect(try deframe(framed.map { [$0] }) == [Array("abc".utf8), Array("de".utf8)])
  }

  @Test func severalMessagesInOneChunk() throws {
    let chunk = MessageFraming.frame([1]) + MessageFraming.frame([]) + MessageFraming.frame([2, 3])
    #expect(try deframe([chunk]) == [[1], [], [2, 3]])
  }

  @Test func emptyMessages() throws {
    #expect(try deframe([MessageFraming.frame([])]) == [[]])
    #expect(try deframe([MessageFraming.frame([]) + MessageFraming.frame([])]) == [[], []])
  }

  @Test func oversizedLengthRejectedFromPrefixAlone() {
    // A 1 GiB declaration with only the prefix sent: rejected before any payload is buffered.
    var deframer = MessageDeframer(maxMessageSize: 4 * 1024 * 1024)
    let prefix: [UInt8] = [0, 0x40, 0, 0, 0]
    #expect(throws: MessageDeframer.Failure.messageTooLarge(length: 1 << 30, limit: 4 * 1024 * 1024)) {
      try prefix.withUnsafeBytes { raw in try deframer.feed(raw) { _ in } }
    }
  }

  @Test func exactlyAtTheLimitIsAccepted() throws {
    let message = [UInt8](repeating: 7, count: 64)
    #expect(try deframe([MessageFraming.frame(message)], limit: 64) == [message])
    #expect(throws: MessageDeframer.Failure.messageTooLarge(length: 65, limit: 64)) {
      _ = try deframe([MessageFraming.frame(message + [1])], limit: 64)
    }
  }

  @Test func compressedFlagWithoutEncoding() {
    #expect(throws: MessageDeframer.Failure.compressedWithoutEncoding) {
      _ = try deframe([[1, 0, 0, 0, 1, 42]])
    }
    #expect(throws: MessageDeframer.Failure.invalidFlag(2)) { _ = try deframe([[2, 0, 0, 0, 0]]) }
  }

  @Test func truncatedMessageAndTruncatedPrefix() {
    #expect(throws: MessageDeframer.Failure.truncated(missing: 2)) { _ = try deframe([[0, 0, 0, 0, 4, 1, 2]]) }
    #expect(throws: MessageDeframer.Failure.truncated(missing: 3)) { _ = try deframe([[0, 0]]) }
  }
}

@Suite("Status message, timeout and status codes")
struct WireValueTests {
  @Test func percentEncodingMatchesTheSpec() {
    #expect(StatusMessage.encode("a must be ≥ 0 (100% sure)") == "a must be %E2%89%A5 0 (100%25 sure)")
    #expect(StatusMessage.encode("line\nbreak") == "line%0Abreak")
    #expect(StatusMessage.encode(" ~") == " ~")
  }

  @Test(arguments: ["", "plain", "a must be ≥ 0 (100% sure)", "👩‍👩‍👧 flags 🇯🇵", "tab\there"])
  func percentEncodingRoundTrips(_ text: String) {
    #expect(StatusMessage.decode(StatusMessage.encode(text)) == text)
  }

  @Test func longMessagesAreCutOnACharacterBoundary() {
    let long = String(repeating: "ab👩‍👩‍👧", count: 5000)
    let cut = StatusMessage.truncated(long)
    #expect(cut.utf8.count <= StatusMessage.maxMessageBytes)
    #expect(cut.hasSuffix("… (truncated)"))
    #expect(long.hasPrefix(String(cut.dropLast("… (truncated)".count))))
    #expect(StatusMessage.truncated("short") == "short")
  }

  @Test func brokenPercentEncodingIsKeptAsIs() {
    #expect(StatusMessage.decode("100%") == "100%")
    #expect(StatusMessage.decode("%ZZok") == "%ZZok")
    #expect(StatusMessage.decode("%4") == "%4")
    #expect(StatusMessage.decode("%41") == "A")
  }

  @Test(arguments: [
    ("1H", Duration.seconds(3600)), ("2M", .seconds(120)), ("3S", .seconds(3)), ("2010m", .milliseconds(2010)),
    ("5u", .microseconds(5)), ("99999999n", .nanoseconds(99_999_999)),
  ])
  func timeoutParsing(_ text: String, _ expected: Duration) {
    #expect(GRPCTimeout.parse(text) == expected)
  }

  @Test(arguments: ["", "S", "123456789S", "10x", "-1S", "1.5S", " 1S"])
  func malformedTimeouts(_ text: String) {
    #expect(GRPCTimeout.parse(text) == nil)
  }

  @Test func timeoutEncodingUsesTheFinestUnitAndRoundsUp() {
    #expect(GRPCTimeout.encode(.milliseconds(250)) == "250000u")
    #expect(GRPCTimeout.encode(.nanoseconds(1500)) == "1500n")
    #expect(GRPCTimeout.encode(.seconds(30)) == "30000000u")
    #expect(GRPCTimeout.encode(.seconds(86_400 * 400)) == "34560000S")
    #expect(GRPCTimeout.encode(.seconds(86_400 * 4000)) == "5760000M")
    #expect(GRPCTimeout.encode(.zero) == "1n")
    for duration: Duration in [.milliseconds(250), .seconds(30), .microseconds(123_456_789), .seconds(7_000_000)] {
      let encoded = GRPCTimeout.encode(duration)
      #expect(encoded.utf8.count <= 9)
      #expect(GRPCTimeout.parse(encoded)! >= duration)
    }
  }

  @Test func everyStatusCodeHasItsWireNumberAndName() {
    let expected = [
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
      "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ]
    #expect(RPCStatusCode.all.map(\.name) == expected)
    #expect(RPCStatusCode.all.map(\.rawValue) == Array(0...16))
    #expect(RPCStatusCode(rawValue: 17) == nil)
    #expect(RPCStatusCode(rawValue: -1) == nil)
  }

  @Test func unknownErrorsDoNotLeak() {
    struct Secret: Error { var token = "s3cr3t" }
    let converted = RPCError(converting: Secret())
    #expect(converted.code == .unknown)
    #expect(!converted.message.contains("s3cr3t"))
    #expect(RPCError(converting: CancellationError()).code == .cancelled)
  }

  @Test func contentTypeSubtypes() {
    #expect(GRPCContentType.subtype(of: "application/grpc") == "")
    #expect(GRPCContentType.subtype(of: "application/grpc+json") == "json")
    #expect(GRPCContentType.subtype(of: "application/grpc+proto; charset=x") == "proto")
    #expect(GRPCContentType.subtype(of: "application/grpc;foo=bar") == "")
    #expect(GRPCContentType.subtype(of: "application/json") == nil)
    #expect(GRPCContentType.subtype(of: "application/grpcx") == nil)
    #expect(GRPCContentType.subtype(of: "application/grpc+") == nil)
  }

  @Test func bearerCredentialComparison() {
    let credential = BearerCredential(token: "abc123")!
    #expect(credential.matches("Bearer abc123"))
    #expect(!credential.matches("Bearer abc124"))
    #expect(!credential.matches("Bearer abc1234"))
    #expect(!credential.matches("Bearer abc12"))
    // Extra bytes in multiples of 256 once slipped through a length check kept in one byte.
    for extra in [1, 255, 256, 512, 4096] {
      #expect(!credential.matches("Bearer abc123" + String(repeating: "X", count: extra)), "\(extra) extra bytes")
    }
    #expect(!credential.matches(nil))
    #expect(!credential.matches(""))
    #expect(BearerCredential(token: "") == nil)
    #expect(BearerCredential(token: "has space") == nil)
  }
}

@Suite("Client status synthesis")
struct ClientStatusMappingTests {
  @Test(arguments: [
    ("400", RPCStatusCode.internal), ("431", .internal), ("401", .unauthenticated), ("403", .permissionDenied),
    ("404", .unimplemented), ("429", .unavailable), ("502", .unavailable), ("503", .unavailable),
    ("504", .unavailable), ("200", .unknown), ("500", .unknown), ("302", .unknown),
  ])
  func httpStatusWithoutGrpcStatus(_ status: String, _ code: RPCStatusCode) {
    #expect(CallEnding.code(forHTTPStatus: status) == code)
  }

  @Test(arguments: [
    (HTTP2ErrorCode.noError, RPCStatusCode.internal), (.protocolError, .internal), (.internalError, .internal),
    (.flowControlError, .internal), (.settingsTimeout, .internal), (.frameSizeError, .internal),
    (.compressionError, .internal), (.connectError, .internal), (.refusedStream, .unavailable),
    (.cancel, .cancelled), (.enhanceYourCalm, .resourceExhausted), (.inadequateSecurity, .permissionDenied),
  ])
  func resetCodes(_ reset: HTTP2ErrorCode, _ code: RPCStatusCode) {
    #expect(CallEnding.error(forReset: reset).code == code)
  }
}
