import Foundation
import Gateway
import HayonHTTP1
import HayonHTTP2
import HayonTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A connected TCP socket to 127.0.0.1:port (blocking, 5 s receive timeout).
func connectRaw(_ port: Int) throws -> Int32 {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(port).bigEndian)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let connected = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
  }
  guard connected == 0 else { throw CurlFailure(description: "connect failed") }
  var timeout = timeval(tv_sec: 5, tv_usec: 0)
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
  return fd
}

/// Reads until EOF (true) or the receive timeout (false); returns what came.
func readUntilClosed(_ fd: Int32) -> (bytes: [UInt8], closed: Bool) {
  var received: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    if count > 0 {
      received += buffer[0..<count]
      continue
    }
    return (received, count == 0 || errno == ECONNRESET)
  }
}

@Suite("timeouts and connection limits", .serialized)
struct ConnectionLimitTests {
  @Test("silent clients are closed: HTTP/1.1, HTTP/2 after its preface, and TLS before its handshake")
  func silentClients() async throws {
    try await withStack(server: { configuration in
      configuration.http1.headerReadTimeout = .seconds(1)
      configuration.http2.idleTimeout = .seconds(1)
    }) { stack in
      let plain = try connectRaw(stack.port)
      defer { close(plain) }
      let started = ContinuousClock.now
      #expect(readUntilClosed(plain).closed)
      #expect(ContinuousClock.now - started < .seconds(4))

      let h2 = try connectRaw(stack.port)
      defer { close(h2) }
      let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]
      _ = preface.withUnsafeBytes { send(h2, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      let (bytes, closed) = readUntilClosed(h2)
      #expect(closed, "an idle HTTP/2 connection stays open")
      // Frames came back (SETTINGS, then GOAWAY): type 7 appears as a frame header.
      #expect(bytes.count >= 9)
    }
    try await withSelfSignedCertificate { tls in
      try await withStack(tls: tls, server: { $0.http1.headerReadTimeout = .seconds(1) }) { stack in
        let silent = try connectRaw(stack.port)
        defer { close(silent) }
        let started = ContinuousClock.now
        #expect(readUntilClosed(silent).closed)
        #expect(ContinuousClock.now - started < .seconds(4))
      }
    }
  }

  @Test("over the connection limit: 503 and closed, for HTTP/1.1 and for connections handed to HTTP/2")
  func limit() async throws {
    try await withStack(server: { $0.http1.maxConnections = 2 }) { stack in
      let first = try connectRaw(stack.port)
      let second = try connectRaw(stack.port)
      defer {
        close(first)
        close(second)
      }
      #expect(try await eventually { stack.server.connectionCounts.http1 == 2 }, "both connections accepted")
      let (text, closed) = try rawExchange(port: stack.port, Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
      #expect(text.hasPrefix("HTTP/1.1 503 "), "\(text)")
      #expect(requestId(in: text)?.count == 32, "\(text)")
      #expect(closed)
    }
    try await withStack(server: { $0.http1.maxConnections = 1 }) { stack in
      // One HTTP/2 connection held open: it left the HTTP/1.1 table, but still counts.
      let held = try connectRaw(stack.port)
      defer { close(held) }
      let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]
      _ = preface.withUnsafeBytes { send(held, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      #expect(try await eventually { stack.server.connectionCounts == (http1: 0, http2: 1) }, "handed over to HTTP/2")
      let second = try connectRaw(stack.port)
      defer { close(second) }
      _ = preface.withUnsafeBytes { send(second, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      let (bytes, closed) = readUntilClosed(second)
      #expect(closed)
      #expect(bytes.isEmpty, "a second HTTP/2 connection was served")
    }
  }
}
