import HayonHTTP2
import Synchronization
import Testing
@testable import HayonRPC

/// What came back on one raw HTTP/2 exchange.
struct RawResponse: Sendable {
  var headers: [HTTP2Header] = []
  var trailers: [HTTP2Header] = []
  var body: [UInt8] = []
  var closeReason: HTTP2StreamCloseReason?
  /// True when the response finished while our request side was still open.
  var finishedBeforeRequestEnded = false

  /// `grpc-status` from the trailers, or from the header block of a trailers-only response.
  var grpcStatus: Int? { (trailers[first: "grpc-status"] ?? headers[first: "grpc-status"]).flatMap(Int.init) }
  var grpcMessage: String? {
    (trailers[first: "grpc-message"] ?? headers[first: "grpc-message"]).map(StatusMessage.decode)
  }
  var httpStatus: String? { headers[first: ":status"] }
}

/// Collects a stream's events for `rawCall`.
private final class CollectingDelegate: HTTP2StreamDelegate {
  var response = RawResponse()
  let continuation: CheckedContinuation<RawResponse, Never>
  let requestEnded: Bool

  init(continuation: CheckedContinuation<RawResponse, Never>, requestEnded: Bool) {
    self.continuation = continuation
    self.requestEnded = requestEnded
  }

  func receive(_ event: HTTP2StreamEvent, stream: HTTP2StreamHandle) -> HTTP2StreamReply? {
    switch event {
    case .headers(let block, _):
      if response.headers.isEmpty { response.headers = block } else { response.trailers = block }
    case .data(let bytes):
      response.body.append(contentsOf: bytes)
    case .end:
      break
    }
    return nil
  }

  func closed(_ reason: HTTP2StreamCloseReason) {
    response.closeReason = reason
    response.finishedBeforeRequestEnded = !requestEnded
    continuation.resume(returning: response)
  }
}

/// Sends one request with exactly these headers and body bytes over a fresh connection and
/// returns everything the server answered. Headers default to a valid authenticated gRPC call.
func rawCall(
  _ address: SocketAddress, path: String = "/hayon.diagnostics.v1.Diagnostics/Echo",
  headers extra: [HTTP2Header] = [], replacing: [String: String?] = [:], body: [UInt8], endRequest: Bool = true
) async throws -> RawResponse {
  var headers = [
    HTTP2Header(":method", "POST"), HTTP2Header(":scheme", "http"), HTTP2Header(":path", path),
    HTTP2Header(":authority", address.description), HTTP2Header("te", "trailers"),
    HTTP2Header("content-type", "application/grpc"), HTTP2Header("authorization", "Bearer \(testToken)"),
  ]
  for (name, value) in replacing {
    // In place, so pseudo-headers stay ahead of regular ones.
    if let index = headers.firstIndex(where: { $0.name == name }) {
      if let value { headers[index].value = value } else { headers.remove(at: index) }
    } else if let value {
      headers.append(HTTP2Header(name, value))
    }
  }
  headers += extra
  let connection = try await HTTP2ClientConnector.connect(to: address, tls: nil)
  let response = await withCheckedContinuation { (continuation: CheckedContinuation<RawResponse, Never>) in
    let frozen = headers
    Task {
      let delegate = CollectingDelegate(continuation: continuation, requestEnded: endRequest)
      do {
        _ = try await connection.openStream(
          headers: frozen, body: body, endRequest: endRequest, timeout: .seconds(10), delegate: delegate)
      } catch {
        Issue.record("openStream failed: \(error)")
      }
    }
  }
  await connection.beginGracefulShutdown(gracePeriod: .milliseconds(100))
  await connection.waitUntilClosed()
  return response
}

func framedJSON(_ text: String) -> [UInt8] { MessageFraming.frame(Array(text.utf8)) }
