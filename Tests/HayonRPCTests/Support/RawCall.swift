import HayonDiagnostics
import HayonHTTP2
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
  let requestEnded: Bool
  let finished: @Sendable (RawResponse) -> Void

  init(requestEnded: Bool, finished: @escaping @Sendable (RawResponse) -> Void) {
    self.requestEnded = requestEnded
    self.finished = finished
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
    finished(response)
  }
}

/// Sends one request with exactly these headers and body bytes over a fresh connection and
/// returns everything the server answered. Headers default to a valid authenticated gRPC call.
func rawCall(
  _ address: SocketAddress, path: String = Diagnostics.Method.Echo.descriptor.path,
  headers extra: [HTTP2Header] = [], replacing: [String: String?] = [:], body: [UInt8], endRequest: Bool = true
) async throws -> RawResponse {
  var headers = callRequestHeaders(address, path: path)
  for (name, value) in replacing {
    // In place, so pseudo-headers stay ahead of regular ones.
    if let index = headers.firstIndex(where: { $0.name == name }) {
      if let value { headers[index].value = value } else { headers.remove(at: index) }
    } else if let value {
      headers.append(HTTP2Header(name, value))
    }
  }
  headers += extra
  let request = headers
  return try await withRawConnection(address) { connection in
    try await rawExchange(on: connection, headers: request, body: body, endRequest: endRequest)
  }
}

/// Sends one request with exactly these headers and body on `connection` and returns everything
/// that came back; throws what `openStream` throws when the stream cannot be opened. With
/// `trailers`, the request ends with that header block instead of END_STREAM on its DATA.
func rawExchange(
  on connection: HTTP2Connection, headers: [HTTP2Header], body: [UInt8], endRequest: Bool = true,
  trailers: [HTTP2Header]? = nil
) async throws -> RawResponse {
  // Exactly one of the two resumes: a stream that opened ends in `closed`, one that did not
  // never reaches its delegate.
  try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RawResponse, any Error>) in
    Task {
      let delegate = CollectingDelegate(requestEnded: endRequest) { continuation.resume(returning: $0) }
      do {
        let stream = try await connection.openStream(
          headers: headers, body: body, endRequest: endRequest && trailers == nil, timeout: .seconds(10),
          delegate: delegate)
        if let trailers, endRequest { await stream.finish(trailers: trailers) }
      } catch {
        continuation.resume(throwing: error)
      }
    }
  }
}

/// Runs `body` with a fresh client connection to `address`, then closes it gracefully.
func withRawConnection<T>(_ address: SocketAddress, _ body: (HTTP2Connection) async throws -> T) async throws -> T {
  let connection = try await HTTP2ClientConnector.connect(to: address, tls: nil)
  let result: Result<T, any Error>
  do { result = .success(try await body(connection)) } catch { result = .failure(error) }
  await connection.beginGracefulShutdown(gracePeriod: .milliseconds(100))
  await connection.waitUntilClosed()
  return try result.get()
}

/// The headers of a valid, authenticated gRPC call to `address` (Echo unless `path` says).
func callRequestHeaders(_ address: SocketAddress, path: String = Diagnostics.Method.Echo.descriptor.path) -> [HTTP2Header] {
  [
    HTTP2Header(":method", "POST"), HTTP2Header(":scheme", "http"), HTTP2Header(":path", path),
    HTTP2Header(":authority", address.description), HTTP2Header("te", "trailers"),
    HTTP2Header("content-type", "application/grpc"), HTTP2Header("authorization", "Bearer \(testToken)"),
  ]
}

func framedJSON(_ text: String) -> [UInt8] { MessageFraming.frame(Array(text.utf8)) }
