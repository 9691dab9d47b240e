import Foundation
import Glibc
import HayonDiagnostics
import HayonHTTP2
@testable import HayonRPC
import HayonTestSupport
import Synchronization
import Testing

// MARK: A test-only streaming service that floods its caller

enum Flood {
  static let serviceName = "hayon.test.v1.Flood"

  struct Request: Codable, Sendable {
    var count: Int
    var size: Int
  }

  struct Chunk: Codable, Sendable {
    var index: Int
    var padding: String
  }

  enum Method {
    enum Stream: ServerStreamingMethod {
      typealias Input = Request
      typealias Output = Chunk
      static let descriptor = MethodDescriptor(service: serviceName, method: "Stream")
    }
  }

  static let path = Method.Stream.descriptor.path
}

/// What the flood handler did, observable from the test while it runs.
final class FloodProbe: Sendable {
  /// Messages whose `write` returned.
  let written = Atomic<Int>(0)
  let writeFailed = Atomic<Bool>(false)
  let ended = Atomic<Bool>(false)
  let cancelledAtEnd = Atomic<Bool>(false)

  var writtenCount: Int { written.load(ordering: .sequentiallyConsistent) }
  var didFailWrite: Bool { writeFailed.load(ordering: .sequentiallyConsistent) }
  var hasEnded: Bool { ended.load(ordering: .sequentiallyConsistent) }
  var wasCancelledAtEnd: Bool { cancelledAtEnd.load(ordering: .sequentiallyConsistent) }
}

struct FloodService: RPCService {
  let probe: FloodProbe
  var serviceName: String { Flood.serviceName }

  func registerMethods(with router: inout RPCRouter) {
    let probe = self.probe
    router.register(Flood.Method.Stream.self) { request, _, writer in
      defer {
        probe.cancelledAtEnd.store(Task.isCancelled, ordering: .sequentiallyConsistent)
        probe.ended.store(true, ordering: .sequentiallyConsistent)
      }
      let padding = String(repeating: "x", count: request.size)
      for index in 0..<request.count {
        do {
          try await writer.write(Flood.Chunk(index: index, padding: padding))
        } catch {
          probe.writeFailed.store(true, ordering: .sequentiallyConsistent)
          throw error
        }
        probe.written.add(1, ordering: .sequentiallyConsistent)
      }
    }
  }
}

// MARK: Helpers

private let echoPath = Diagnostics.Method.Echo.descriptor.path
private let expandPath = Diagnostics.Method.Expand.descriptor.path

/// A framed JSON request message.
private func grpcBody<T: Encodable>(_ message: T) throws -> [UInt8] {
  MessageFraming.frame(Array(try JSONEncoder().encode(message)))
}

/// A normal client can still make a call.
private func expectServerStillServes(_ address: SocketAddress, sourceLocation: SourceLocation = #_sourceLocation) async throws {
  let rpc = try makeClient(address)
  let reply = try await Diagnostics.Client(rpc).echo(Diagnostics.EchoRequest(message: "still alive"))
  #expect(reply.message == "still alive", sourceLocation: sourceLocation)
  await rpc.close()
}

private struct RequirementFailed: Error {}

/// Unwraps `value`, or records an issue and stops the test. Used instead of `#require`: with
/// Swift 6.3.1 (debug build), in this file's async test closures, the first
/// `answer.frames.first(where:)` evaluated right after a `try #require(answer.matched, …)`
/// returned nil although the array held a matching element, and the identical expression
/// evaluated again returned it. A minimal package did not reproduce it.
private func required<T>(
  _ value: T?, _ comment: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation
) throws -> T {
  guard let value else {
    Issue.record(Comment(rawValue: comment()), sourceLocation: sourceLocation)
    throw RequirementFailed()
  }
  return value
}

/// Expects stream 1 of `raw` to be reset with CANCEL no sooner than `timeout` after `start`,
/// and the connection to stay usable (it answers a PING). Returns the frames read up to the reset.
private func expectStreamOneCancelled(
  _ raw: RawHTTP2Client, after timeout: Duration, since start: ContinuousClock.Instant,
  sourceLocation: SourceLocation = #_sourceLocation
) async throws -> [RawFrame] {
  let outcome = await raw.readFrames { $0.streamID == 1 && ($0.type == RawFrame.rstStream || $0.endStream) }
  let elapsed = ContinuousClock.now - start
  let reset = try required(outcome.matched, "\(outcome.end), frames: \(outcome.frames)", sourceLocation: sourceLocation)
  #expect(reset.type == RawFrame.rstStream, "\(reset)", sourceLocation: sourceLocation)
  #expect(reset.errorCode == HTTP2ErrorCode.cancel.rawValue, "\(reset)", sourceLocation: sourceLocation)
  #expect(elapsed >= timeout - .milliseconds(20), "reset after \(elapsed)", sourceLocation: sourceLocation)
  #expect(elapsed < .seconds(3), "reset after \(elapsed)", sourceLocation: sourceLocation)
  // Only the stream was cut off: the connection still answers a PING.
  try raw.sendPing(0x4841_594F_4E21_2121)
  let pong = await raw.readFrames { $0.type == RawFrame.ping && $0.isAck }
  #expect(
    pong.matched?.payload == RawHTTP2Client.bytes(of: UInt64(0x4841_594F_4E21_2121)), "\(pong.end) \(pong.frames)",
    sourceLocation: sourceLocation)
  return outcome.frames
}

/// SIGPIPEs seen while the SIGPIPE test's counting handler is installed.
private let sigpipeCount = Atomic<Int>(0)

/// Connection-level timeouts short enough for the tests; long ones stay out of the way.
private func timeouts(
  handshake: Duration = .seconds(30), idle: Duration = .seconds(30), requestReceive: Duration = .seconds(30),
  sendStall: Duration = .seconds(30)
) -> (inout RPCServer.Configuration) -> Void {
  { configuration in
    configuration.connection.handshakeTimeout = handshake
    configuration.connection.idleTimeout = idle
    configuration.connection.requestReceiveTimeout = requestReceive
    configuration.connection.sendStallTimeout = sendStall
  }
}

/// SETTINGS_INITIAL_WINDOW_SIZE.
private let initialWindowSizeSetting: UInt16 = 0x4

@Suite("Hostile clients")
struct HostileClientTests {
  // MARK: Garbage and silence before the preface

  @Test func http1RequestInsteadOfPrefaceIsCutOff() async throws {
    try await expectGarbageIsCutOff(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
  }

  @Test func randomBytesInsteadOfPrefaceAreCutOff() async throws {
    // Starts like a TLS ClientHello (0x16 0x03 0x01), i.e. never like "PRI", then random bytes.
    var generator = SystemRandomNumberGenerator()
    let garbage: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00] + (0..<59).map { _ in UInt8.random(in: 0...255, using: &generator) }
    try await expectGarbageIsCutOff(garbage)
  }

  private func expectGarbageIsCutOff(_ garbage: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) async throws {
    // The handshake timeout is long: the close must come from the bad preface itself.
    try await withTestServer(configure: timeouts(handshake: .seconds(30))) { server, address in
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      let start = ContinuousClock.now
      try raw.send(garbage)
      let outcome = await raw.waitForClose(timeout: .seconds(3))
      #expect(outcome.end.isClosed, "frames: \(outcome.frames)", sourceLocation: sourceLocation)
      #expect(ContinuousClock.now - start < .seconds(3), sourceLocation: sourceLocation)
      // Nothing but connection-level frames (SETTINGS, maybe GOAWAY) may come back.
      #expect(outcome.frames.allSatisfy { $0.streamID == 0 }, "\(outcome.frames)", sourceLocation: sourceLocation)
      #expect(try await eventually { server.connectionCount == 0 }, sourceLocation: sourceLocation)
      try await expectServerStillServes(address, sourceLocation: sourceLocation)
    }
  }

  @Test func partialPrefaceThenSilenceTimesOut() async throws {
    let handshakeTimeout = Duration.milliseconds(300)
    try await withTestServer(configure: timeouts(handshake: handshakeTimeout)) { server, address in
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      let start = ContinuousClock.now
      try raw.send(Array(RawHTTP2Client.preface.prefix(16)))  // "PRI * HTTP/2.0\r\n"
      let outcome = await raw.waitForClose(timeout: .seconds(4))
      let elapsed = ContinuousClock.now - start
      #expect(outcome.end.isClosed, "frames: \(outcome.frames)")
      #expect(elapsed >= handshakeTimeout - .milliseconds(20), "closed after \(elapsed)")
      #expect(elapsed < .seconds(3), "closed after \(elapsed)")
      try await expectServerStillServes(address)
    }
  }

  // MARK: Slow loris: a stream whose request never ends

  @Test func requestWithoutBodyIsResetAfterRequestReceiveTimeout() async throws {
    let receiveTimeout = Duration.milliseconds(300)
    try await withTestServer(configure: timeouts(requestReceive: receiveTimeout)) { _, address in
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      try await raw.handshake()
      let start = ContinuousClock.now
      try raw.sendHeaders(streamID: 1, RawHTTP2Client.grpcRequestHeaders(path: echoPath, token: testToken), endStream: false)
      _ = try await expectStreamOneCancelled(raw, after: receiveTimeout, since: start)
    }
  }

  // MARK: A peer that stops reading

  @Test func responseStuckBehindAShutWindowIsResetAfterSendStallTimeout() async throws {
    let stallTimeout = Duration.milliseconds(300)
    try await withTestServer(configure: timeouts(sendStall: stallTimeout)) { _, address in
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      // A stream window of 0: the server may send headers but no DATA until we open it.
      try await raw.handshake(settings: [(id: initialWindowSizeSetting, value: 0)])
      let start = ContinuousClock.now
      try raw.sendHeaders(streamID: 1, RawHTTP2Client.grpcRequestHeaders(path: echoPath, token: testToken), endStream: false)
      try raw.sendData(streamID: 1, try grpcBody(Diagnostics.EchoRequest(message: "never read")), endStream: true)
      let frames = try await expectStreamOneCancelled(raw, after: stallTimeout, since: start)
      #expect(!frames.contains { $0.type == RawFrame.data }, "\(frames)")
    }
  }

  @Test func slowButSteadyReaderIsNotResetBySendStallTimeout() async throws {
    let stallTimeout = Duration.milliseconds(500)
    let window = 1000
    try await withTestServer(configure: timeouts(sendStall: stallTimeout)) { _, address in
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      try await raw.handshake(settings: [(id: initialWindowSizeSetting, value: UInt32(window))])
      // Twelve windows at 100 ms each: over twice the stall timeout in all.
      let message = String(repeating: "s", count: 12 * window)
      let start = ContinuousClock.now
      try raw.sendHeaders(streamID: 1, RawHTTP2Client.grpcRequestHeaders(path: echoPath, token: testToken), endStream: false)
      try raw.sendData(streamID: 1, try grpcBody(Diagnostics.EchoRequest(message: message)), endStream: true)
      // Read a window's worth at a time, pausing before opening the next: slower in all than
      // the stall timeout, but never still for that long.
      var frames: [RawFrame] = []
      var ended = false
      while !ended {
        let outcome = await raw.readFrames {
          $0.streamID == 1 && ($0.type == RawFrame.data || $0.type == RawFrame.rstStream || $0.endStream)
        }
        frames += outcome.frames
        let frame = try required(outcome.matched, "\(outcome.end), frames: \(frames)")
        if frame.type == RawFrame.rstStream || frame.endStream {
          ended = true
        } else {
          try await Task.sleep(for: .milliseconds(100))
          try raw.sendWindowUpdate(streamID: 1, increment: UInt32(frame.dataBytes.count))
        }
      }
      let elapsed = ContinuousClock.now - start
      #expect(elapsed > stallTimeout * 2, "the exchange took \(elapsed): too fast to show anything")
      #expect(!frames.contains { $0.type == RawFrame.rstStream }, "\(frames)")
      #expect(frames.last?.header("grpc-status") == "0", "\(frames)")
      let replies = try RawHTTP2Client.grpcMessages(in: frames, streamID: 1).map {
        try JSONDecoder().decode(Diagnostics.EchoResponse.self, from: Data($0))
      }
      #expect(replies == [Diagnostics.EchoResponse(message: message)])
    }
  }

  @Test func peerThatStopsReadingTheSocketIsDisconnectedAfterTwiceTheSendStallTimeout() async throws {
    let stallTimeout = Duration.milliseconds(300)
    try await withTestServer(configure: timeouts(sendStall: stallTimeout)) { server, address in
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      // Windows wide open, so only the socket can hold the server back: we never read it.
      try await raw.handshake(settings: [(id: initialWindowSizeSetting, value: 0x7FFF_FFFF)])
      try raw.sendWindowUpdate(streamID: 0, increment: 0x7FFF_FFFF - 65_535)
      let request = Diagnostics.ExpandRequest(message: String(repeating: "x", count: 4000), count: Diagnostics.ExpandRequest.maxCount)
      try raw.sendHeaders(streamID: 1, RawHTTP2Client.grpcRequestHeaders(path: expandPath, token: testToken), endStream: false)
      try raw.sendData(streamID: 1, try grpcBody(request), endStream: true)
      // 40 MB of responses cannot fit in the socket buffers: the stream stalls, its reset
      // cannot be sent, and the server gives up on the connection.
      #expect(try await eventually(timeout: .seconds(10)) { server.connectionCount == 0 })
      try await expectServerStillServes(address)
    }
  }

  // MARK: Idle connection

  @Test func idleConnectionGetsGoawayThenEOF() async throws {
    let idleTimeout = Duration.milliseconds(300)
    try await withTestServer(configure: timeouts(idle: idleTimeout)) { server, address in
      // Idle time counts from the server's last read, which may be our preface if a loaded
      // machine delays our SETTINGS ACK: so measure from before the handshake.
      let start = ContinuousClock.now
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      try await raw.handshake()
      let outcome = await raw.waitForClose(timeout: .seconds(4))
      let elapsed = ContinuousClock.now - start
      #expect(outcome.end == .closed(reset: false), "frames: \(outcome.frames)")
      let goaways = outcome.frames.filter { $0.type == RawFrame.goaway }
      let goaway = try required(goaways.first, "no GOAWAY before EOF: \(outcome.frames)")
      #expect(goaways.allSatisfy { $0.errorCode == HTTP2ErrorCode.noError.rawValue }, "\(goaways)")
      #expect(goaway.lastStreamID == 0, "\(goaway)")
      #expect(goaway.streamID == 0)
      #expect(elapsed >= idleTimeout - .milliseconds(20), "closed after \(elapsed)")
      #expect(elapsed < .seconds(3), "closed after \(elapsed)")
      #expect(try await eventually { server.connectionCount == 0 })
    }
  }

  // MARK: Oversized header list

  @Test func oversizedHeaderListIsRefusedAndConnectionStaysUsable() async throws {
    try await withTestServer(configure: { configuration in
      timeouts()(&configuration)
      configuration.connection.maxHeaderListSize = 4096
    }) { _, address in
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      try await raw.handshake()
      let big = HTTP2Header("x-big", String(repeating: "a", count: 6000))
      try raw.sendHeaders(
        streamID: 1, RawHTTP2Client.grpcRequestHeaders(path: echoPath, token: testToken, extra: [big]), endStream: true)
      let refused = await raw.readFrames { $0.streamID == 1 && ($0.type == RawFrame.rstStream || $0.endStream) }
      let refusal = try required(refused.matched, "\(refused.end), frames: \(refused.frames)")
      if refusal.type == RawFrame.headers {
        // Trailers-only: one HEADERS frame with END_STREAM carrying the status.
        #expect(refused.frames.filter { $0.streamID == 1 && $0.type == RawFrame.data }.isEmpty)
        #expect(refusal.header(":status") == "200", "\(refusal)")
        #expect(refusal.header("grpc-status") == String(RPCStatusCode.resourceExhausted.rawValue), "\(refusal)")
      } else {
        #expect(refusal.type == RawFrame.rstStream, "\(refusal)")
      }

      // A normal call on the same connection still works.
      try raw.sendHeaders(streamID: 3, RawHTTP2Client.grpcRequestHeaders(path: echoPath, token: testToken), endStream: false)
      try raw.sendData(streamID: 3, try grpcBody(Diagnostics.EchoRequest(message: "after the big one")), endStream: true)
      let answer = await raw.readFrames { $0.streamID == 3 && ($0.type == RawFrame.rstStream || $0.endStream) }
      let trailers = try required(answer.matched, "\(answer.end), frames: \(answer.frames)")
      let head = answer.frames.first(where: { $0.streamID == 3 && $0.type == RawFrame.headers })
      let responseStatus = head?.header(":status")
      #expect(trailers.type == RawFrame.headers, "\(trailers)")
      #expect(trailers.header("grpc-status") == "0", "\(trailers)")
      #expect(responseStatus == "200", "\(answer.frames)")
      let messages = RawHTTP2Client.grpcMessages(in: answer.frames, streamID: 3)
      let replies = try messages.map { try JSONDecoder().decode(Diagnostics.EchoResponse.self, from: Data($0)) }
      #expect(replies == [Diagnostics.EchoResponse(message: "after the big one")])
      #expect(!answer.frames.contains { $0.type == RawFrame.goaway }, "\(answer.frames)")
    }
  }

  // MARK: Back-pressure against a reader that never reads

  @Test func slowReaderSuspendsTheWriterAndBoundsMemory() async throws {
    let probe = FloodProbe()
    try await withTestServer(
      services: [DiagnosticsService(), FloodService(probe: probe)], configure: timeouts(requestReceive: .milliseconds(300))
    ) { _, address in
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      // Default SETTINGS: a 65,535-byte stream and connection window, never replenished.
      try await raw.handshake()
      try raw.sendHeaders(streamID: 1, RawHTTP2Client.grpcRequestHeaders(path: Flood.path, token: testToken), endStream: false)
      try raw.sendData(streamID: 1, try grpcBody(Flood.Request(count: 20_000, size: 1000)), endStream: true)
      // From here on the socket is never read and no WINDOW_UPDATE is sent.

      #expect(try await eventually { probe.writtenCount > 0 || probe.hasEnded })
      let settled = try await settledValue { probe.writtenCount }
      let stalledAt = probe.writtenCount
      #expect(settled != nil, "the writer never stalled (at \(stalledAt) messages)")
      // Each message is ~1,030 bytes framed: the 65,535-byte flow-control window plus the
      // 256 KiB per-stream buffer hold ~320 of them (317 observed), so the writer must be
      // suspended long before 2,000, let alone 20,000.
      #expect(stalledAt > 0)
      #expect(stalledAt < 2_000, "the handler wrote \(stalledAt) messages into a connection nobody reads")
      #expect(stalledAt <= 400, "more buffered than window + per-stream buffer: \(stalledAt) messages")
      #expect(!probe.hasEnded, "the handler ended early")
      #expect(!probe.didFailWrite)

      // The reader goes away: the suspended write must fail and the handler end, cancelled.
      raw.close()
      #expect(try await eventually { probe.hasEnded }, "the handler is still running")
      #expect(probe.didFailWrite, "the suspended write did not throw")
      #expect(probe.wasCancelledAtEnd, "the handler's task was not cancelled")
      // Under a loaded test run the poll can judge "stalled" a write or two early; what matters
      // is that the total never exceeds what the window and buffer can hold.
      let final = probe.writtenCount
      #expect(final <= 400, "kept writing after the stall: \(stalledAt) → \(final)")
    }
  }

  @Test func manyUnreadStreamsAreBoundedPerConnection() async throws {
    let probe = FloodProbe()
    try await withTestServer(
      services: [DiagnosticsService(), FloodService(probe: probe)],
      configure: { configuration in
        timeouts(requestReceive: .seconds(5))(&configuration)
        configuration.connection.maxBufferedPerConnection = 1 << 20
      }
    ) { _, address in
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      try await raw.handshake()
      // 40 streams × 256 KiB per-stream buffers would be 10 MiB; the connection cap is 1 MiB.
      for index in 0..<40 {
        let id = UInt32(1 + 2 * index)
        try raw.sendHeaders(streamID: id, RawHTTP2Client.grpcRequestHeaders(path: Flood.path, token: testToken), endStream: false)
        try raw.sendData(streamID: id, try grpcBody(Flood.Request(count: 2_000, size: 1000)), endStream: true)
      }
      #expect(try await eventually { probe.writtenCount > 0 })
      #expect(try await settledValue { probe.writtenCount } != nil, "the writer never stalled")
      // ~1,030 bytes a message: the 1 MiB cap, the 64 KiB connection window and one message
      // per waiting writer come to about 1,100 messages; without the cap it would be ~10,000.
      let stalledAt = probe.writtenCount
      #expect(stalledAt < 1_500, "\(stalledAt) messages buffered for a connection nobody reads")
    }
  }

  // MARK: More streams than SETTINGS_MAX_CONCURRENT_STREAMS

  // Observed behaviour (nghttp2 1.52, server advertising MAX_CONCURRENT_STREAMS = 8): nghttp2
  // enforces the limit it *announced* (pending SETTINGS) with stream errors, and the limit the
  // client *acknowledged* with a connection error:
  // - before the client ACKs the server's SETTINGS, streams beyond 8 get RST_STREAM
  //   REFUSED_STREAM (7) and the connection carries on;
  // - after the ACK, the 9th stream is a connection error: GOAWAY PROTOCOL_ERROR (1), then EOF,
  //   taking the 8 open streams down with it.

  @Test func streamsBeyondAnnouncedLimitAreRefused() async throws {
    try await withTestServer(configure: { configuration in
      timeouts()(&configuration)
      configuration.connection.maxConcurrentStreams = 8
    }) { _, address in
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      try await raw.handshake(acknowledge: false)
      // Ten streams whose requests stay open (HEADERS without END_STREAM): ids 1, 3, …, 19.
      var bytes: [UInt8] = []
      let streamIDs = (0..<10).map { UInt32(1 + 2 * $0) }
      for id in streamIDs {
        bytes += RawHTTP2Client.headersFrames(
          streamID: id, RawHTTP2Client.grpcRequestHeaders(path: echoPath, token: testToken), endStream: false)
      }
      try raw.send(bytes)
      let resets = Mutex<Set<UInt32>>([])
      let outcome = await raw.readFrames { frame in
        guard frame.type == RawFrame.rstStream else { return false }
        return resets.withLock { $0.insert(frame.streamID); return $0.isSuperset(of: [17, 19]) }
      }
      #expect(outcome.end == .matched, "\(outcome.end), frames: \(outcome.frames)")
      let rst = outcome.frames.filter { $0.type == RawFrame.rstStream }
      #expect(Set(rst.map(\.streamID)) == [17, 19], "\(rst)")
      #expect(rst.allSatisfy { $0.errorCode == HTTP2ErrorCode.refusedStream.rawValue }, "\(rst)")
      #expect(!outcome.frames.contains { $0.type == RawFrame.goaway }, "\(outcome.frames)")

      // Freeing a slot (the client cancels stream 1) lets a new stream through, answered normally.
      try raw.sendRSTStream(streamID: 1, code: HTTP2ErrorCode.cancel.rawValue)
      try raw.sendHeaders(streamID: 21, RawHTTP2Client.grpcRequestHeaders(path: echoPath, token: testToken), endStream: false)
      try raw.sendData(streamID: 21, try grpcBody(Diagnostics.EchoRequest(message: "slot freed")), endStream: true)
      let answer = await raw.readFrames { $0.streamID == 21 && ($0.type == RawFrame.rstStream || $0.endStream) }
      let end = try required(answer.matched, "\(answer.end), frames: \(answer.frames)")
      #expect(end.type == RawFrame.headers && end.header("grpc-status") == "0", "\(end)")
    }
  }

  @Test func streamsBeyondAcknowledgedLimitAreAConnectionError() async throws {
    try await withTestServer(configure: { configuration in
      timeouts()(&configuration)
      configuration.connection.maxConcurrentStreams = 8
    }) { server, address in
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      try await raw.handshake(acknowledge: true)
      // Make sure the server has processed our ACK before the streams arrive.
      try raw.sendPing(1)
      let pong = await raw.readFrames { $0.type == RawFrame.ping && $0.isAck }
      #expect(pong.end == .matched)
      var bytes: [UInt8] = []
      for index in 0..<10 {
        bytes += RawHTTP2Client.headersFrames(
          streamID: UInt32(1 + 2 * index), RawHTTP2Client.grpcRequestHeaders(path: echoPath, token: testToken),
          endStream: false)
      }
      try raw.send(bytes)
      let outcome = await raw.waitForClose()
      #expect(outcome.end.isClosed, "\(outcome.end), frames: \(outcome.frames)")
      let goaway = try required(outcome.frames.first { $0.type == RawFrame.goaway }, "\(outcome.frames)")
      #expect(goaway.errorCode == HTTP2ErrorCode.protocolError.rawValue, "\(goaway)")
      #expect(goaway.lastStreamID == 15, "\(goaway)")
      #expect(try await eventually { server.connectionCount == 0 })
      try await expectServerStillServes(address)
    }
  }

  // MARK: SIGPIPE

  /// Clients that send a request and vanish, so the server's response writes hit a dead peer.
  /// The process ignores SIGPIPE (EventLoopGroup does it) and every send uses MSG_NOSIGNAL; to
  /// notice a send that would raise SIGPIPE anyway, a counting handler replaces SIG_IGN for the
  /// duration of the test (process-wide: a SIGPIPE from any concurrently running test counts
  /// too, and is just as much a bug).
  @Test func peersVanishingMidResponseNeverRaiseSIGPIPE() async throws {
    try await withTestServer(configure: timeouts(handshake: .seconds(2), requestReceive: .seconds(2))) { server, address in
      // The server exists, so the shared loop group has set SIGPIPE to SIG_IGN by now.
      var previous = sigaction()
      #expect(sigaction(SIGPIPE, nil, &previous) == 0)
      let ignored = previous.__sigaction_handler.sa_handler.map { unsafeBitCast($0, to: Int.self) } == 1  // SIG_IGN
      #expect(ignored, "SIGPIPE is not ignored process-wide")
      let before = sigpipeCount.load(ordering: .relaxed)  // also initialises the global before the handler can run
      var counting = sigaction()
      counting.__sigaction_handler.sa_handler = { _ in sigpipeCount.add(1, ordering: .relaxed) }
      sigemptyset(&counting.sa_mask)
      counting.sa_flags = SA_RESTART
      #expect(sigaction(SIGPIPE, &counting, nil) == 0)
      defer { sigaction(SIGPIPE, &previous, nil) }

      let echo = try grpcBody(Diagnostics.EchoRequest(message: String(repeating: "e", count: 4000)))
      let expand = try grpcBody(Diagnostics.ExpandRequest(message: String(repeating: "x", count: 200), count: 5000))
      for round in 0..<200 {
        let raw = try RawHTTP2Client(connectingTo: address, safetyTimeout: .seconds(2))
        var bytes = RawHTTP2Client.preface + RawHTTP2Client.settingsFrame([], ack: false)
        switch round % 3 {
        case 0:
          // Request, then close right away (FIN).
          bytes += RawHTTP2Client.headersFrames(streamID: 1, RawHTTP2Client.grpcRequestHeaders(path: echoPath, token: testToken), endStream: false)
          bytes += RawHTTP2Client.dataFrame(streamID: 1, echo, endStream: true)
          try raw.send(bytes)
          raw.close()
        case 1:
          // Request, then an abortive close (RST).
          bytes += RawHTTP2Client.headersFrames(streamID: 1, RawHTTP2Client.grpcRequestHeaders(path: echoPath, token: testToken), endStream: false)
          bytes += RawHTTP2Client.dataFrame(streamID: 1, echo, endStream: true)
          try raw.send(bytes)
          raw.abort()
        default:
          // A long streaming response: wait until the server is writing it, then RST.
          bytes += RawHTTP2Client.headersFrames(streamID: 1, RawHTTP2Client.grpcRequestHeaders(path: expandPath, token: testToken), endStream: false)
          bytes += RawHTTP2Client.dataFrame(streamID: 1, expand, endStream: true)
          bytes += RawHTTP2Client.windowUpdateFrame(streamID: 0, increment: 1 << 20)
          bytes += RawHTTP2Client.windowUpdateFrame(streamID: 1, increment: 1 << 20)
          try raw.send(bytes)
          let first = await raw.readFrames(timeout: .seconds(2)) { $0.streamID == 1 && $0.type == RawFrame.data }
          #expect(first.end == .matched, "round \(round): \(first.end), frames: \(first.frames)")
          raw.abort()
        }
      }
      #expect(try await eventually(timeout: .seconds(10)) { server.connectionCount == 0 },
              "\(server.connectionCount) connections still open")
      try await expectServerStillServes(address)
      let raised = sigpipeCount.load(ordering: .relaxed) - before
      #expect(raised == 0, "SIGPIPE was raised \(raised) times")
    }
  }
}
