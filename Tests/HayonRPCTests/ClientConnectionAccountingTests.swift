import HayonDiagnostics
import Testing

@testable import HayonHTTP2
@testable import HayonRPC

@Suite("HTTP/2 client connection: refused requests and what a closed connection keeps")
struct ClientConnectionAccountingTests {
  @Test("a request refused for want of stream ids throws goingAway and leaves no body bytes counted")
  func refusedRequestLeavesNothingQueued() async throws {
    try await withTestServer { _, address in
      try await withRawConnection(address) { connection in
        // 2^31 - 1 is the last id a client may use.
        #expect(await connection.moveNextStreamID(to: Int32.max))
        let body = framedJSON(#"{"message":"last id"}"#)
        let last = try await rawExchange(on: connection, headers: callRequestHeaders(address), body: body)
        #expect(last.grpcStatus == 0)
        #expect(last.body == body)
        #expect(await connection.queuedBodyBytes == 0)

        let refused = Array(repeating: UInt8(ascii: "x"), count: 64 * 1024)
        await #expect(throws: HTTP2StreamError.goingAway) {
          _ = try await rawExchange(on: connection, headers: callRequestHeaders(address), body: refused)
        }
        // Nothing of the refused body is held against the connection's buffer limit.
        #expect(await connection.queuedBodyBytes == 0)
      }
    }
  }

  @Test("a closed connection drops the stream states it kept for reuse")
  func closeDropsKeptStates() async throws {
    try await withTestServer { _, address in
      let connection = try await HTTP2ClientConnector.connect(to: address, tls: nil)
      let body = framedJSON(#"{"message":"kept"}"#)
      for _ in 0..<3 {
        let response = try await rawExchange(on: connection, headers: callRequestHeaders(address), body: body)
        #expect(response.body == body)
      }
      // One at a time, so the same state went round: one kept.
      #expect(await connection.keptStreamStates == 1)
      await connection.beginGracefulShutdown(gracePeriod: .milliseconds(100))
      await connection.waitUntilClosed()
      #expect(await connection.keptStreamStates == 0)
    }
  }
}
