/// One header field. Names are lower-case as HTTP/2 requires.
public struct HTTP2Header: Sendable, Hashable {
  public var name: String
  public var value: String
  public init(_ name: String, _ value: String) {
    self.name = name
    self.value = value
  }
}

extension Array where Element == HTTP2Header {
  /// The first value for `name`.
  public subscript(first name: String) -> String? {
    first { $0.name == name }?.value
  }
}

/// HTTP/2 error codes (RFC 9113 §7) used in RST_STREAM and GOAWAY.
public struct HTTP2ErrorCode: Sendable, Hashable, CustomStringConvertible {
  public var rawValue: UInt32
  public init(_ rawValue: UInt32) { self.rawValue = rawValue }

  public static let noError = HTTP2ErrorCode(0)
  public static let protocolError = HTTP2ErrorCode(1)
  public static let internalError = HTTP2ErrorCode(2)
  public static let flowControlError = HTTP2ErrorCode(3)
  public static let settingsTimeout = HTTP2ErrorCode(4)
  public static let streamClosed = HTTP2ErrorCode(5)
  public static let frameSizeError = HTTP2ErrorCode(6)
  public static let refusedStream = HTTP2ErrorCode(7)
  public static let cancel = HTTP2ErrorCode(8)
  public static let compressionError = HTTP2ErrorCode(9)
  public static let connectError = HTTP2ErrorCode(10)
  public static let enhanceYourCalm = HTTP2ErrorCode(11)
  public static let inadequateSecurity = HTTP2ErrorCode(12)
  public static let http11Required = HTTP2ErrorCode(13)

  public var description: String { "HTTP/2 error \(rawValue)" }
}

/// What happened on a stream, delivered to its delegate on the connection's event loop.
public enum HTTP2StreamEvent {
  /// A header block: the request or response head, or trailers.
  case headers([HTTP2Header], endStream: Bool)
  /// Body bytes, borrowed for the duration of the call only.
  case data(UnsafeRawBufferPointer)
  /// The peer finished its side of the stream: delivered once, after the DATA frame or the
  /// header block (request head, response head, trailers) that carried END_STREAM.
  case end
}

/// Why a stream closed.
public enum HTTP2StreamCloseReason: Sendable, Equatable {
  /// Both sides finished normally.
  case finished
  /// RST_STREAM with this code (from the peer, or sent by us).
  case reset(HTTP2ErrorCode)
  /// The connection closed (EOF, I/O error, protocol error or shutdown) before the stream ended.
  case connectionClosed
  /// The peer's GOAWAY did not include this stream: it was never processed and is safe to retry.
  case refusedByGoaway
  /// The stream's local deadline passed; we sent RST_STREAM(CANCEL).
  case timedOut
}

/// A reply a delegate wants sent right away, while it handles an event on the loop.
public enum HTTP2StreamReply: Sendable {
  /// A complete response: the header block, then `body`, then `trailers` (when given). With an
  /// empty body and no trailers the header block itself ends the stream (a trailers-only reply).
  case respond(headers: [HTTP2Header], body: [UInt8], trailers: [HTTP2Header]?)
  /// RST_STREAM.
  case reset(HTTP2ErrorCode)
}

/// Receives one stream's events. Called only on the connection's event loop, in order.
public protocol HTTP2StreamDelegate: AnyObject {
  func receive(_ event: HTTP2StreamEvent, stream: HTTP2StreamHandle) -> HTTP2StreamReply?
  func closed(_ reason: HTTP2StreamCloseReason)
}

/// The request head a server sees when a stream opens.
public struct HTTP2RequestHead: Sendable {
  public var headers: [HTTP2Header]
  /// The request ended with its header block (no body will follow).
  public var endStream: Bool
  /// The header list exceeded the configured limit; the fields past it were dropped.
  public var headerListTooLarge: Bool
  /// True when the connection is TLS.
  public var isSecure: Bool
  /// The connection's reader, when the acceptor made one (`makeRequestFieldReader`) and the
  /// request arrived on HTTP/2: it has read every field of this request's header block, and
  /// `headers` is empty. Nil for a request upgraded from HTTP/1.1, whose fields are in `headers`.
  /// Read it inside `accept` only, on the loop: the connection resets it for its next request.
  public var fieldReader: HTTP2RequestFieldReader?
  public var method: String? { headers[first: ":method"] }
  public var path: String? { headers[first: ":path"] }
}

/// Decides, on the event loop, what handles each new request stream.
public protocol HTTP2StreamAcceptor: Sendable {
  /// Returns the delegate for the stream's remaining events, and an optional immediate reply.
  func accept(_ head: HTTP2RequestHead, stream: HTTP2StreamHandle) -> (
    delegate: (any HTTP2StreamDelegate)?, reply: HTTP2StreamReply?
  )

  /// A reader for the header fields of new requests, made once per connection; nil (the
  /// default) has every field made into text in `HTTP2RequestHead.headers`.
  func makeRequestFieldReader() -> HTTP2RequestFieldReader?
}

extension HTTP2StreamAcceptor {
  public func makeRequestFieldReader() -> HTTP2RequestFieldReader? { nil }
}

/// Reads each new request's header fields as bytes, as nghttp2 hands them over, for an acceptor
/// that needs a few of them in its own form: it compares and keeps what it needs, and nothing
/// else becomes a String. Most of a request's fields are the same on every call, so this spares
/// a String, an array slot and their reference counting per field.
///
/// One per connection, reused for every request on it: HTTP/2 never interleaves header blocks,
/// and the acceptor has taken what it needs by the time the next block begins. Used only on the
/// connection's event loop (hence `Sendable` without locks: it never leaves that thread).
///
/// A class to subclass rather than a protocol: the connection calls it for every field, and a
/// class reference can be borrowed for the call (`Unmanaged`) where an existential is retained
/// and released around each one.
open class HTTP2RequestFieldReader: @unchecked Sendable {
  public init() {}
  /// A new request's header block begins: forget the previous one.
  open func reset() {}
  /// One field, in order; both buffers are valid only during the call. Fields past the header
  /// list limit are not delivered (the head says `headerListTooLarge`).
  open func read(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {}
}

/// An error from a stream operation.
public enum HTTP2StreamError: Error, Sendable, Equatable {
  /// The stream is closed (reset or finished); nothing more can be sent.
  case streamClosed
  /// The connection is closed or closing.
  case connectionClosed
  /// The connection is draining after a GOAWAY and accepts no new streams.
  case goingAway
  /// nghttp2 refused the operation.
  case protocolFailure(String)
}

/// Tunables for every connection, with defaults suited to service-to-service RPC.
public struct HTTP2ConnectionConfiguration: Sendable {
  /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise.
  public var maxConcurrentStreams: Int = 128
  /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce (name + value + 32 per field).
  public var maxHeaderListSize: Int = 16 * 1024
  /// Per-stream receive window.
  public var initialWindowSize: Int = 1 << 20
  /// Connection-level receive window.
  public var connectionWindowSize: Int = 8 << 20
  /// Time allowed for the TLS handshake and the client preface.
  public var handshakeTimeout: Duration = .seconds(10)
  /// A connection with no open streams for this long is closed with GOAWAY.
  public var idleTimeout: Duration = .seconds(300)
  /// A stream whose request side has not finished after this long is reset (slow-loris guard).
  public var requestReceiveTimeout: Duration = .seconds(30)
  /// A stream whose queued body bytes have not moved for this long (the peer keeps its
  /// flow-control window shut, or stopped reading the socket) is reset with CANCEL: what it
  /// holds is freed and its handler cancelled, instead of pinning memory for as long as the
  /// peer likes.
  public var sendStallTimeout: Duration = .seconds(30)
  /// Bytes queued for the socket before the connection stops producing frames and reading.
  public var maxBufferedOutbound: Int = 1 << 20
  /// Bytes a stream writer may queue before `write` waits for the peer to read.
  public var maxBufferedPerStream: Int = 256 * 1024
  /// Bytes all of a connection's streams may queue together before writers wait: bounds the
  /// memory a peer that opens many streams and reads none of them can pin.
  public var maxBufferedPerConnection: Int = 4 * 1024 * 1024

  public init() {}
  public static var defaults: HTTP2ConnectionConfiguration { HTTP2ConnectionConfiguration() }
}

extension Duration {
  /// Whole nanoseconds, clamped to 0…~292 years so huge timeouts (a `grpc-timeout` may say
  /// 99999999H) never wrap around into short ones.
  public var saturatingNanoseconds: UInt64 {
    let (seconds, attoseconds) = components
    if seconds < 0 { return 0 }
    let cap: UInt64 = 1 << 63
    let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
    if overflow || whole >= cap { return cap }
    return min(whole + UInt64(attoseconds / 1_000_000_000), cap)
  }
}

/// An HTTP/1.1 request that asked for `Upgrade: h2c`, as the HTTP/2 side takes it over.
package struct HTTP2Upgrade: Sendable {
  /// The decoded `HTTP2-Settings` header: the client's SETTINGS payload.
  package var settingsPayload: [UInt8]
  /// The request head as HTTP/2 fields (pseudo-headers first, names lower-case).
  package var headers: [HTTP2Header]
  package var body: [UInt8]
  package var isHead: Bool

  package init(settingsPayload: [UInt8], headers: [HTTP2Header], body: [UInt8], isHead: Bool) {
    self.settingsPayload = settingsPayload
    self.headers = headers
    self.body = body
    self.isHead = isHead
  }
}
