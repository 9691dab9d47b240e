import Foundation
import HayonDiagnostics
import HayonHTTP2
import Testing

@testable import HayonRPC

/// HTTP/2 lets a request end with a trailing header block carrying END_STREAM instead of an
/// empty DATA frame; a call must run either way.
@Suite("RPC server: requests that end with trailers")
struct RequestTrailersTests {
  @Test("a unary call whose request ends with trailers is answered, and the next call on the connection too")
  func unaryEndedByTrailers() async throws {
    try await withTestServer { _, address in
      try await withRawConnection(address) { connection in
        let body = framedJSON(#"{"message":"ended by trailers"}"#)
        let response = try await rawExchange(
          on: connection, headers: callRequestHeaders(address), body: body,
          trailers: [HTTP2Header("x-request-trailer", "1")])
        #expect(response.httpStatus == "200")
        #expect(response.grpcStatus == 0)
        #expect(response.body == body)
        #expect(response.closeReason == .finished)

        let plain = framedJSON(#"{"message":"plain"}"#)
        let next = try await rawExchange(on: connection, headers: callRequestHeaders(address), body: plain)
        #expect(next.grpcStatus == 0)
        #expect(next.body == plain)
      }
    }
  }

  @Test("a server-streaming call whose request ends with trailers streams its messages")
  func streamingEndedByTrailers() async throws {
    try await withTestServer { _, address in
      try await withRawConnection(address) { connection in
        let response = try await rawExchange(
          on: connection, headers: callRequestHeaders(address, path: Diagnostics.Method.Expand.descriptor.path),
          body: framedJSON(#"{"message":"m","count":3}"#), trailers: [HTTP2Header("x-request-trailer", "1")])
        #expect(response.grpcStatus == 0)
        // The body holds whole messages only: `finish` throws on a partial one.
        var deframer = MessageDeframer(maxMessageSize: 1 << 20)
        var payloads: [[UInt8]] = []
        try response.body.withUnsafeBytes { try deframer.feed($0) { payloads.append($0) } }
        try deframer.finish()
        let messages = try payloads.map { try JSONDecoder().decode(Diagnostics.ExpandResponse.self, from: Data($0)) }
        #expect(messages == (0..<3).map { Diagnostics.ExpandResponse(message: "m", index: $0) })
      }
    }
  }

  @Test("a request ended by trailers with no message gets UNIMPLEMENTED, as one ended by DATA does")
  func emptyRequestEndedByTrailers() async throws {
    try await withTestServer { _, address in
      try await withRawConnection(address) { connection in
        let response = try await rawExchange(
          on: connection, headers: callRequestHeaders(address), body: [],
          trailers: [HTTP2Header("x-request-trailer", "1")])
        #expect(response.grpcStatus == RPCStatusCode.unimplemented.rawValue)
        #expect(response.grpcMessage == "Echo takes exactly one request message, got 0")
      }
    }
  }
}
