import Foundation
@testable import HayonHTTP1
import HayonHTTP2
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("HTTP/1.1 server hardening", .serialized)
struct HardeningTests {
  @Test func slowLorisHeadTimesOut() async throws {
    let calls = CallCounter()
    try await withServer(configure: { $0.headerReadTimeout = .milliseconds(300) }, handler: echoHandler(calls)) { server, port in
      let client = try RawClient(port: port)
      let started = ContinuousClock.now
      try client.send("GET / HTTP/1.1\r\nHost: a\r\nX-Never: ends")
      let response = try #require(try client.readResponse())
      #expect(response.status == 408)
      #expect(try client.readToEnd().isEmpty)
      let elapsed = ContinuousClock.now - started
      #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(5))
      #expect(calls.count == 0)
    }
  }

  /// Dripping a byte now and then does not extend the head's deadline.
  @Test func drippingBytesDoesNotResetTheHeadDeadline() async throws {
    let calls = CallCounter()
    try await withServer(configure: { $0.headerReadTimeout = .milliseconds(300) }, handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      let started = ContinuousClock.now
      try client.send("GET / HTTP/1.1\r\nHost: a\r\n")
      // Paced, not waiting: each byte keeps the connection active for far less than the
      // timeout; the sends stop as soon as the server has answered.
      var closedEarly = false
      for _ in 0..<40 {
        try? await Task.sleep(for: .milliseconds(25))
        if (try? client.send("X")) == nil { closedEarly = true; break }
        if client.waitForPeerClose(timeoutMilliseconds: 0) { closedEarly = true; break }
      }
      #expect(closedEarly)
      #expect(ContinuousClock.now - started < .seconds(1))
      #expect(try client.readResponse()?.status == 408)
      #expect(calls.count == 0)
    }
  }

  @Test func slowBodyTimesOut() async throws {
    let calls = CallCounter()
    try await withServer(configure: { $0.bodyReadTimeout = .milliseconds(300) }, handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      try client.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
      #expect(try client.readResponse()?.status == 408)
      #expect(try client.readToEnd().isEmpty)
      #expect(calls.count == 0)
    }
  }

  @Test func silentNewConnectionIsClosed() async throws {
    let calls = CallCounter()
    try await withServer(configure: { $0.headerReadTimeout = .milliseconds(200) }, handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      #expect(try client.readToEnd().isEmpty)
    }
  }

  @Test func idleKeepAliveConnectionIsClosed() async throws {
    let calls = CallCounter()
    try await withServer(configure: { $0.idleTimeout = .milliseconds(300) }, handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      try client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
      #expect(try client.readResponse()?.status == 200)
      let idleSince = ContinuousClock.now
      #expect(try client.readToEnd().isEmpty)
      let elapsed = ContinuousClock.now - idleSince
      #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(5))
    }
  }

  @Test func connectionLimit() async throws {
    let calls = CallCounter()
    try await withServer(configure: { $0.maxConnections = 2 }, handler: echoHandler(calls)) { server, port in
      let first = try RawClient(port: port)
      let second = try RawClient(port: port)
      for client in [first, second] {
        try client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try client.readResponse()?.status == 200)
      }
      #expect(server.connectionCount == 2)
      let excess = try RawClient(port: port)
      try? excess.send("GET /excess HTTP/1.1\r\nHost: a\r\n\r\n")
      let answer = String(decoding: try excess.readToEnd(), as: UTF8.self)
      // Accepted and closed: a 503 when it could be written first, else nothing.
      #expect(answer.isEmpty || answer.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), "\(answer)")
      #expect(calls.count == 2)
      // The admitted connections are unaffected.
      try first.send("GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
      #expect(try first.readResponse()?.bodyText == "GET /again 0")
    }
  }

  @Test func clientThatNeverReadsIsCutOffWithBoundedWork() async throws {
    let calls = CallCounter()
    let big = [UInt8](repeating: 0x61, count: 512 * 1024)
    let handler: HTTP1Server.Handler = { _ in
      calls.increment()
      return HTTPResponse(status: 200, body: big)
    }
    try await withServer(
      configure: {
        $0.maxBufferedOutbound = 64 * 1024
        $0.maxReadAhead = 16 * 1024
        $0.writeTimeout = .milliseconds(400)
      }, handler: handler
    ) { _, port in
      let client = try RawClient(port: port)
      var batch = ""
      for _ in 0..<300 { batch += "GET / HTTP/1.1\r\nHost: a\r\n\r\n" }
      try client.send(batch)
      // Never read: the server stops producing and finally resets the connection.
      #expect(client.waitForPeerClose())
      #expect(calls.count < 300, "work stopped once the client stopped reading")
      #expect(calls.count >= 1)
    }
  }

  @Test func peersVanishingMidResponseDoNotKillTheProcess() async throws {
    let body = [UInt8](repeating: 0x62, count: 4 * 1024 * 1024)
    try await withServer(handler: { _ in HTTPResponse(status: 200, body: body) }) { _, port in
      for _ in 0..<5 {
        let client = try RawClient(port: port)
        try client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        // Reset on close, while the server is still writing 4 MiB.
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(client.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
      }
      let survivor = try RawClient(port: port)
      try survivor.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
      #expect(try survivor.readResponse()?.body.count == body.count)
    }
  }

  @Test func gracefulShutdownLetsTheRunningHandlerFinish() async throws {
    let entered = Gate()
    let release = Gate()
    let calls = CallCounter()
    let handler: HTTP1Server.Handler = { request in
      calls.increment()
      if request.path == "/slow" {
        entered.open()
        await release.wait()
      }
      return HTTPResponse(status: 200, body: Array("done \(request.path)".utf8))
    }
    var configuration = HTTP1Server.Configuration(address: SocketAddress(host: "127.0.0.1", port: 0))
    configuration.lingerTimeout = .milliseconds(500)
    let server = HTTP1Server(configuration: configuration, group: testGroup, handler: handler)
    let port = try await server.start().port

    let idle = try RawClient(port: port)
    try idle.send("GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
    #expect(try idle.readResponse()?.bodyText == "done /idle")
    let busy = try RawClient(port: port)
    try busy.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
    await entered.wait()

    async let stopped: Void = server.shutdown(gracePeriod: .seconds(20))
    // The idle keep-alive connection is closed at once ...
    #expect(try await offPool { try idle.readToEnd() }.isEmpty)
    // ... which happens after the listener closed: nobody new gets in.
    #expect(throws: ClientError.self) { _ = try RawClient(port: port) }
    release.open()
    let response = try #require(try await offPool { try busy.readResponse() })
    #expect(response.bodyText == "done /slow")
    #expect(response.headers["connection"] == "close")
    #expect(try await offPool { try busy.readToEnd() }.isEmpty)
    await stopped
    #expect(server.connectionCount == 0)
    #expect(calls.count == 2)
  }

  @Test func gracePeriodBoundsShutdown() async throws {
    let entered = Gate()
    let release = Gate()
    let handler: HTTP1Server.Handler = { _ in
      entered.open()
      await release.wait()
      return HTTPResponse(status: 200)
    }
    let server = HTTP1Server(
      configuration: .init(address: SocketAddress(host: "127.0.0.1", port: 0)), group: testGroup, handler: handler)
    let port = try await server.start().port
    let busy = try RawClient(port: port)
    try busy.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    await entered.wait()
    let started = ContinuousClock.now
    await server.shutdown(gracePeriod: .milliseconds(200))
    #expect(ContinuousClock.now - started < .seconds(5))
    #expect(try busy.readToEnd().isEmpty, "the unfinished request gets no response")
    release.open()
  }

  // MARK: The HTTP/2 seam

  /// Stands in for the gateway's HTTP/2 side: says what it adopted, then closes.
  struct RecordingHandoff: HTTP1ProtocolHandoff {
    func adopt(_ connection: HTTP1HandedOffConnection) {
      let text: String
      switch connection.kind {
      case .priorKnowledge: text = "prior-knowledge \(connection.bufferedBytes.count)"
      case .h2cUpgrade(let request): text = "h2c \(request.target) \(connection.bufferedBytes.count)"
      }
      _ = Array(text.utf8).withUnsafeBytes { send(connection.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      Glibc.close(connection.fd)
    }
  }

  static let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

  @Test func http2PrefaceIsHandedOff() async throws {
    let calls = CallCounter()
    try await withServer(configure: { $0.http2Handoff = RecordingHandoff() }, handler: echoHandler(calls)) { server, port in
      let client = try RawClient(port: port)
      try client.send(Self.preface + "\u{0}\u{0}\u{0}")
      #expect(String(decoding: try client.readToEnd(), as: UTF8.self) == "prior-knowledge 27")
      let upgrade = try RawClient(port: port)
      try upgrade.send("GET /up HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
      #expect(String(decoding: try upgrade.readToEnd(), as: UTF8.self) == "h2c /up 0")
      #expect(calls.count == 0)
      #expect(server.connectionCount == 0)
    }
  }

  @Test func withoutHandoffHTTP2IsRefusedAndH2CIgnored() async throws {
    let calls = CallCounter()
    try await withServer(handler: echoHandler(calls)) { _, port in
      let client = try RawClient(port: port)
      try client.send(Self.preface)
      #expect(try client.readResponse()?.status == 505)
      #expect(try client.readToEnd().isEmpty)
      let upgrade = try RawClient(port: port)
      try upgrade.send("GET /up HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
      #expect(try upgrade.readResponse()?.bodyText == "GET /up 0")
      #expect(calls.count == 1)
    }
  }

  @Test func dateFormatIsIMFFixdate() {
    #expect(HTTPDateCache.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
    #expect(HTTPDateCache.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
  }
}
