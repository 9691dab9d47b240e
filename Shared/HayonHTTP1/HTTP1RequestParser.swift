import HayonHTTP2

/// Why a request was refused: the HTTP status to answer with and a short reason for the body.
/// Reasons are fixed texts; they never echo request bytes.
public struct HTTP1ParseError: Error, Sendable, Hashable, CustomStringConvertible {
  public var status: Int
  public var reason: String

  public init(status: Int, reason: String) {
    self.status = status
    self.reason = reason
  }

  public var description: String { "\(status): \(reason)" }

  static func badRequest(_ reason: String) -> Self { Self(status: 400, reason: reason) }
  static func bodyTooLarge(_ limit: Int) -> Self {
    Self(status: 413, reason: "request body exceeds the limit of \(limit) bytes")
  }
  static func headersTooLarge(_ reason: String) -> Self { Self(status: 431, reason: reason) }
}

/// An incremental, strict HTTP/1.1 request parser (RFC 9112), as a value-type state machine.
///
/// Feed it bytes as they arrive, in chunks of any size, and ask `next()` what happened. It
/// answers one decision at a time; a request split at every byte parses exactly like the whole.
/// Anything ambiguous about message framing is an error, never a guess, so the bytes that follow
/// a request can never be read as a different request than the one the client meant (no
/// smuggling): after an error the parser stays failed and the connection must close.
public struct HTTP1RequestParser: Sendable {
  public struct Configuration: Sendable, Hashable {
    /// The request line, without its CRLF (longer → 414).
    public var maxRequestLineLength = 8 * 1024
    /// Header fields in one request (more → 431).
    public var maxHeaderCount = 100
    /// The header section in bytes, every field line with its CRLF plus the empty line (→ 431).
    public var maxHeaderSectionSize = 16 * 1024
    /// The (de-chunked) body (larger → 413).
    public var maxBodySize = 1024 * 1024
    /// One chunk-size line with its extensions, without CRLF (longer → 400).
    public var maxChunkLineLength = 1024
    /// The trailer section of a chunked body in bytes (larger → 431).
    public var maxTrailerSectionSize = 4 * 1024
    /// Trailer fields (more → 431).
    public var maxTrailerCount = 20

    public init() {}
    public static var defaults: Configuration { Configuration() }

    public static func defaults(configure: (inout Configuration) -> Void) -> Configuration {
      var configuration = Configuration()
      configure(&configuration)
      return configuration
    }
  }

  /// A complete request and what it says about the connection.
  public struct Message: Sendable, Hashable {
    public var request: HTTPRequest
    /// False when the connection must close after the response (`Connection: close`, or
    /// HTTP/1.0 without `Connection: keep-alive`).
    public var keepAlive: Bool
    /// The client asked to switch to HTTP/2 in cleartext (`Upgrade: h2c` with
    /// `HTTP2-Settings`, listed in `Connection`). The server may ignore it (RFC 9110 §7.8);
    /// it is the seam for a gateway that serves HTTP/2 on the same port.
    public var requestsH2CUpgrade: Bool
  }

  public enum Decision: Sendable, Hashable {
    /// Nothing complete yet: feed more bytes.
    case needMoreData
    /// The head is complete, the client sent `Expect: 100-continue` and waits for
    /// `100 Continue` before it sends the body. Call `next()` again after answering.
    case continueExpected
    /// A complete request. Call `next()` again for a pipelined one.
    case request(Message)
    /// The connection opened with the HTTP/2 client preface (`PRI * HTTP/2.0`, RFC 9113 §3.4):
    /// a prior-knowledge HTTP/2 client. The bytes are left unconsumed (`bufferedBytes()`), so the
    /// connection can be handed to an HTTP/2 session as it arrived.
    case http2Preface
    /// The request is malformed or over a limit: answer `error.status` and close.
    case failed(HTTP1ParseError)
  }

  private enum State: Sendable {
    case requestLine(emptyLinesSkipped: Int)
    case headerLines
    case continueExpected
    case fixedBody(remaining: Int)
    case chunkSize
    case chunkData(remaining: Int)
    case chunkDataEnd
    case trailerLines
    case failed(HTTP1ParseError)
  }

  private struct Head: Sendable {
    var method = ""
    var target = ""
    var version = HTTPVersion.http1_1
    var headers = HTTPFields()
    var sectionBytes = 0
    var trailerBytes = 0
    var trailerCount = 0
    var body: [UInt8] = []
  }

  public let configuration: Configuration
  private var state = State.requestLine(emptyLinesSkipped: 0)
  private var head = Head()
  private var buffer: [UInt8] = []
  private var readIndex = 0
  /// How far the current line has been scanned (relative to `readIndex`), so a line arriving a
  /// byte at a time is scanned once, not once per byte.
  private var scannedLength = 0
  /// True once the first request line has begun; the HTTP/2 preface is only recognised first.
  private var sawFirstRequest = false

  public init(configuration: Configuration = .defaults) {
    self.configuration = configuration
  }

  /// Bytes received and not yet consumed by a decision.
  public var bufferedByteCount: Int { buffer.count - readIndex }

  /// The bytes received and not yet consumed (for handing a connection to another protocol).
  public func bufferedBytes() -> [UInt8] { Array(buffer[readIndex...]) }

  /// True between requests: no byte of a next request has been consumed or is buffered.
  public var isIdle: Bool {
    if case .requestLine(let skipped) = state, skipped == 0, scannedLength == 0, bufferedByteCount == 0 {
      return true
    }
    return false
  }

  /// True while the head of a request is being read (the slow-loris window).
  public var isReadingHead: Bool {
    switch state {
    case .requestLine, .headerLines: return true
    default: return false
    }
  }

  /// True when the parser has failed; it stays failed.
  public var hasFailed: Bool {
    if case .failed = state { return true }
    return false
  }

  public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
    if case .failed = state { return }
    compactIfWorthwhile()
    buffer.append(contentsOf: bytes)
  }

  public mutating func feed(_ bytes: some Sequence<UInt8>) {
    if case .failed = state { return }
    compactIfWorthwhile()
    buffer.append(contentsOf: bytes)
  }

  private mutating func compactIfWorthwhile() {
    if readIndex == buffer.count {
      // Idle connections keep at most a small buffer, not the largest request they saw.
      buffer.removeAll(keepingCapacity: buffer.capacity <= 8 * 1024)
      readIndex = 0
    } else if readIndex > 16 * 1024 && readIndex * 2 > buffer.count {
      buffer.removeFirst(readIndex)
      readIndex = 0
    }
  }

  /// Advances as far as the buffered bytes allow and says what happened.
  public mutating func next() -> Decision {
    while true {
      switch state {
      case .failed(let error):
        return .failed(error)
      case .requestLine(let skipped):
        if !sawFirstRequest, let preface = checkHTTP2Preface() { return preface }
        switch scanLine(limit: configuration.maxRequestLineLength) {
        case .incomplete: return .needMoreData
        case .tooLong: return fail(HTTP1ParseError(status: 414, reason: "request line exceeds \(configuration.maxRequestLineLength) bytes"))
        case .invalid(let reason): return fail(.badRequest(reason))
        case .line(let range):
          consumeLine(range)
          if range.isEmpty {
            // RFC 9112 §2.2: a server SHOULD ignore a few empty lines before the request line
            // (some clients send CRLF after a POST body). A few, not a stream of them.
            guard skipped < 4 else { return fail(.badRequest("too many empty lines before the request line")) }
            state = .requestLine(emptyLinesSkipped: skipped + 1)
            continue
          }
          sawFirstRequest = true
          if let error = parseRequestLine(range) { return fail(error) }
          state = .headerLines
        }
      case .headerLines:
        let remaining = configuration.maxHeaderSectionSize - head.sectionBytes
        switch scanLine(limit: remaining - 2) {
        case .incomplete: return .needMoreData
        case .tooLong: return fail(.headersTooLarge("header section exceeds \(configuration.maxHeaderSectionSize) bytes"))
        case .invalid(let reason): return fail(.badRequest(reason))
        case .line(let range):
          consumeLine(range)
          head.sectionBytes += range.count + 2
          if range.isEmpty {
            switch finishHead() {
            case .failure(let error): return fail(error)
            case .success(let decision):
              if let decision { return decision }
            }
            continue
          }
          guard head.headers.count < configuration.maxHeaderCount else {
            return fail(.headersTooLarge("more than \(configuration.maxHeaderCount) header fields"))
          }
          switch parseFieldLine(range) {
          case .failure(let error): return fail(error)
          case .success(let field): head.headers.add(field.name, field.value)
          }
        }
      case .continueExpected:
        // The caller has answered `100 Continue` (or chosen not to); read the body.
        state = bodyState()
      case .fixedBody(let remaining):
        if remaining == 0 { return completeRequest() }
        let available = min(remaining, bufferedByteCount)
        if available == 0 { return .needMoreData }
        head.body.append(contentsOf: buffer[readIndex..<(readIndex + available)])
        readIndex += available
        state = .fixedBody(remaining: remaining - available)
      case .chunkSize:
        switch scanLine(limit: configuration.maxChunkLineLength) {
        case .incomplete: return .needMoreData
        case .tooLong: return fail(.badRequest("chunk size line exceeds \(configuration.maxChunkLineLength) bytes"))
        case .invalid(let reason): return fail(.badRequest(reason))
        case .line(let range):
          consumeLine(range)
          switch parseChunkSize(range) {
          case .failure(let error): return fail(error)
          case .success(0): state = .trailerLines
          case .success(let size): state = .chunkData(remaining: size)
          }
        }
      case .chunkData(let remaining):
        let available = min(remaining, bufferedByteCount)
        if available == 0 { return .needMoreData }
        head.body.append(contentsOf: buffer[readIndex..<(readIndex + available)])
        readIndex += available
        state = remaining == available ? .chunkDataEnd : .chunkData(remaining: remaining - available)
      case .chunkDataEnd:
        if bufferedByteCount < 1 { return .needMoreData }
        if buffer[readIndex] != 0x0D { return fail(.badRequest("chunk data not followed by CRLF")) }
        if bufferedByteCount < 2 { return .needMoreData }
        if buffer[readIndex + 1] != 0x0A { return fail(.badRequest("chunk data not followed by CRLF")) }
        readIndex += 2
        state = .chunkSize
      case .trailerLines:
        let remaining = configuration.maxTrailerSectionSize - head.trailerBytes
        switch scanLine(limit: remaining - 2) {
        case .incomplete: return .needMoreData
        case .tooLong: return fail(.headersTooLarge("trailer section exceeds \(configuration.maxTrailerSectionSize) bytes"))
        case .invalid(let reason): return fail(.badRequest(reason))
        case .line(let range):
          consumeLine(range)
          head.trailerBytes += range.count + 2
          if range.isEmpty { return completeRequest() }
          guard head.trailerCount < configuration.maxTrailerCount else {
            return fail(.headersTooLarge("more than \(configuration.maxTrailerCount) trailer fields"))
          }
          // Trailers are validated like header fields and then dropped: nothing in them may
          // change how the request is framed or routed.
          if case .failure(let error) = parseFieldLine(range) { return fail(error) }
          head.trailerCount += 1
        }
      }
    }
  }

  private mutating func fail(_ error: HTTP1ParseError) -> Decision {
    state = .failed(error)
    head = Head()
    buffer = []
    readIndex = 0
    return .failed(error)
  }

  // MARK: Lines

  private enum LineScan {
    case incomplete
    /// The line's bytes in `buffer`, without the CRLF.
    case line(Range<Int>)
    case tooLong
    case invalid(String)
  }

  /// Finds the next CRLF-terminated line, rejecting NUL, bare CR and bare LF on the way.
  /// `limit` bounds the line's length without its CRLF.
  private mutating func scanLine(limit: Int) -> LineScan {
    var index = readIndex + scannedLength
    while index < buffer.count {
      let byte = buffer[index]
      if byte == 0x0D {
        guard index + 1 < buffer.count else { break }
        guard buffer[index + 1] == 0x0A else { return .invalid("bare CR in the message head") }
        let length = index - readIndex
        if length > limit { return .tooLong }
        scannedLength = 0
        return .line(readIndex..<index)
      }
      if byte == 0x0A { return .invalid("bare LF line ending (lines must end with CRLF)") }
      if byte == 0x00 { return .invalid("NUL byte in the message head") }
      index += 1
      if index - readIndex > limit { return .tooLong }
    }
    scannedLength = index - readIndex
    if scannedLength > limit { return .tooLong }
    return .incomplete
  }

  private mutating func consumeLine(_ range: Range<Int>) {
    readIndex = range.upperBound + 2
    scannedLength = 0
  }

  // MARK: Request line

  private static let http2Preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

  /// Recognises the HTTP/2 client preface at the start of a connection without consuming it.
  private func checkHTTP2Preface() -> Decision? {
    let available = bufferedByteCount
    let compared = min(available, Self.http2Preface.count)
    guard compared > 0 else { return nil }
    for offset in 0..<compared where buffer[readIndex + offset] != Self.http2Preface[offset] { return nil }
    return compared == Self.http2Preface.count ? .http2Preface : .needMoreData
  }

  private mutating func parseRequestLine(_ range: Range<Int>) -> HTTP1ParseError? {
    let line = buffer[range]
    // Exactly `method SP request-target SP HTTP-version`, single spaces.
    let parts = line.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: false)
    guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
      return .badRequest("request line must be: method SP target SP version")
    }
    let (method, target, version) = (parts[0], parts[1], parts[2])
    guard method.allSatisfy(HTTPSyntax.isTokenByte) else { return .badRequest("method is not a token") }
    guard let parsedVersion = HTTPVersion(bytes: version) else {
      return .badRequest("malformed HTTP version")
    }
    guard parsedVersion == .http1_0 || parsedVersion == .http1_1 else {
      return HTTP1ParseError(status: 505, reason: "only HTTP/1.0 and HTTP/1.1 are supported")
    }
    let methodText = String(decoding: method, as: UTF8.self)
    if target.elementsEqual([0x2A]) {
      guard methodText == "OPTIONS" else { return .badRequest("asterisk-form target is only allowed for OPTIONS") }
    } else {
      guard target.first == 0x2F else { return .badRequest("request target must be origin-form (start with /)") }
      if let reason = HTTPSyntax.originFormProblem(target) { return .badRequest(reason) }
    }
    head.method = methodText
    head.target = String(decoding: target, as: UTF8.self)
    head.version = parsedVersion
    return nil
  }

  // MARK: Header fields

  private func parseFieldLine(_ range: Range<Int>) -> Result<HTTPField, HTTP1ParseError> {
    let line = buffer[range]
    guard let first = line.first else { return .failure(.badRequest("empty field line")) }
    if first == 0x20 || first == 0x09 {
      return .failure(.badRequest("obsolete line folding (field line starting with whitespace)"))
    }
    guard let colon = line.firstIndex(of: 0x3A) else { return .failure(.badRequest("field line without a colon")) }
    let name = line[line.startIndex..<colon]
    guard !name.isEmpty else { return .failure(.badRequest("empty field name")) }
    if let last = name.last, last == 0x20 || last == 0x09 {
      return .failure(.badRequest("whitespace between field name and colon"))
    }
    guard name.allSatisfy(HTTPSyntax.isTokenByte) else { return .failure(.badRequest("field name is not a token")) }
    var value = line[(colon + 1)...]
    while let byte = value.first, byte == 0x20 || byte == 0x09 { value = value.dropFirst() }
    while let byte = value.last, byte == 0x20 || byte == 0x09 { value = value.dropLast() }
    guard value.allSatisfy(HTTPSyntax.isFieldValueByte) else {
      return .failure(.badRequest("control character in a field value"))
    }
    return .success(HTTPField(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
  }

  /// Validates what the complete head says about framing and the connection, then picks the body
  /// state. Returns a decision to hand out now, or nil to keep parsing.
  private mutating func finishHead() -> Result<Decision?, HTTP1ParseError> {
    let headers = head.headers
    let hosts = headers.values("host")
    if head.version == .http1_1 && hosts.count != 1 {
      return .failure(.badRequest(hosts.isEmpty ? "missing Host header" : "more than one Host header"))
    }
    if hosts.count > 1 { return .failure(.badRequest("more than one Host header")) }
    if let host = hosts.first, !host.utf8.allSatisfy(HTTPSyntax.isHostByte) {
      return .failure(.badRequest("invalid Host header"))
    }

    let contentLengths = headers.values("content-length")
    let transferEncodings = headers.values("transfer-encoding")
    if !contentLengths.isEmpty && !transferEncodings.isEmpty {
      return .failure(.badRequest("both Content-Length and Transfer-Encoding"))
    }
    var framing = BodyFraming.none
    if !transferEncodings.isEmpty {
      guard head.version == .http1_1 else {
        return .failure(.badRequest("Transfer-Encoding in an HTTP/1.0 request"))
      }
      guard transferEncodings.count == 1, transferEncodings[0].caseInsensitiveEquals("chunked") else {
        return .failure(.badRequest("Transfer-Encoding must be exactly chunked"))
      }
      framing = .chunked
    } else if !contentLengths.isEmpty {
      guard contentLengths.count == 1 else { return .failure(.badRequest("more than one Content-Length")) }
      let digits = contentLengths[0].utf8
      guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
        return .failure(.badRequest("Content-Length must be decimal digits only"))
      }
      guard digits.count <= 18, let length = Int(contentLengths[0]) else {
        return .failure(.badRequest("Content-Length is too long"))
      }
      guard length <= configuration.maxBodySize else {
        return .failure(.bodyTooLarge(configuration.maxBodySize))
      }
      framing = .length(length)
    }
    self.framing = framing

    let expectations = headers.values("expect")
    var expectsContinue = false
    if !expectations.isEmpty {
      guard expectations.count == 1, expectations[0].caseInsensitiveEquals("100-continue") else {
        return .failure(HTTP1ParseError(status: 417, reason: "only Expect: 100-continue is supported"))
      }
      // RFC 9110 §10.1.1: ignored for HTTP/1.0, and pointless without a body.
      expectsContinue = head.version == .http1_1 && framing != .none && framing != .length(0)
    }
    if expectsContinue {
      state = .continueExpected
      return .success(.continueExpected)
    }
    state = bodyState()
    return .success(nil)
  }

  private enum BodyFraming: Sendable, Equatable {
    case none
    case length(Int)
    case chunked
  }

  private var framing = BodyFraming.none

  private func bodyState() -> State {
    switch framing {
    case .none: return .fixedBody(remaining: 0)
    case .length(let length): return .fixedBody(remaining: length)
    case .chunked: return .chunkSize
    }
  }

  // MARK: Chunked body

  private func parseChunkSize(_ range: Range<Int>) -> Result<Int, HTTP1ParseError> {
    let line = buffer[range]
    let digits = line.prefix { HTTPSyntax.hexValue($0) != nil }
    guard !digits.isEmpty else { return .failure(.badRequest("chunk size is not hexadecimal")) }
    guard digits.count <= 15 else { return .failure(.badRequest("chunk size is too long")) }
    var size = 0
    for digit in digits { size = size << 4 | Int(HTTPSyntax.hexValue(digit)!) }
    let rest = line[digits.endIndex...]
    if !rest.isEmpty {
      // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ); extensions are ignored, but must
      // start with ";" and hold no control characters.
      let afterSpace = rest.drop { $0 == 0x20 || $0 == 0x09 }
      guard afterSpace.first == 0x3B else { return .failure(.badRequest("chunk size is not hexadecimal")) }
      guard afterSpace.allSatisfy(HTTPSyntax.isFieldValueByte) else {
        return .failure(.badRequest("control character in a chunk extension"))
      }
    }
    guard size <= configuration.maxBodySize - head.body.count else {
      return .failure(.bodyTooLarge(configuration.maxBodySize))
    }
    return .success(size)
  }

  // MARK: Completion

  private mutating func completeRequest() -> Decision {
    let completed = head
    head = Head()
    framing = .none
    state = .requestLine(emptyLinesSkipped: 0)
    let connectionTokens = completed.headers.values("connection").flatMap { HTTPSyntax.commaSeparated($0) }
    let keepAlive: Bool
    if connectionTokens.contains(where: { $0.caseInsensitiveEquals("close") }) {
      keepAlive = false
    } else if completed.version == .http1_0 {
      keepAlive = connectionTokens.contains { $0.caseInsensitiveEquals("keep-alive") }
    } else {
      keepAlive = true
    }
    let upgrades = completed.headers.values("upgrade").flatMap { HTTPSyntax.commaSeparated($0) }
    let requestsH2C =
      completed.version == .http1_1 && upgrades.contains { $0.caseInsensitiveEquals("h2c") }
      && connectionTokens.contains { $0.caseInsensitiveEquals("upgrade") }
      && completed.headers.values("http2-settings").count == 1
    let request = HTTPRequest(
      method: completed.method, target: completed.target, version: completed.version,
      headers: completed.headers, body: completed.body)
    return .request(Message(request: request, keepAlive: keepAlive, requestsH2CUpgrade: requestsH2C))
  }
}

/// Byte classes from RFC 9110/9112/3986.
enum HTTPSyntax {
  /// tchar: `!#$%&'*+-.^_`|~`, digits and letters.
  static func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
    default: return false
    }
  }

  /// field-value bytes: HT, SP, VCHAR and obs-text; no other control characters, no DEL.
  static func isFieldValueByte(_ byte: UInt8) -> Bool {
    byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
  }

  /// Bytes of `uri-host [ ":" port ]`: unreserved, sub-delims, `%`, `:` and IPv6 brackets.
  static func isHostByte(_ byte: UInt8) -> Bool {
    switch byte {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case 0x2D, 0x2E, 0x5F, 0x7E: return true  // - . _ ~
    case 0x21, 0x24, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x3B, 0x3D: return true  // sub-delims
    case 0x25, 0x3A, 0x5B, 0x5D: return true  // % : [ ]
    default: return false
    }
  }

  /// Bytes of an origin-form target: pchar, `/` and `?`, with `%` only as a `%XX` escape.
  static func originFormProblem(_ target: some Collection<UInt8>) -> String? {
    var pendingHex = 0
    for byte in target {
      if pendingHex > 0 {
        guard hexValue(byte) != nil else { return "malformed percent-encoding in the request target" }
        pendingHex -= 1
        continue
      }
      switch byte {
      case 0x25: pendingHex = 2
      case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: continue
      case 0x2D, 0x2E, 0x5F, 0x7E: continue  // unreserved
      case 0x21, 0x24, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x3B, 0x3D: continue  // sub-delims
      case 0x3A, 0x40, 0x2F, 0x3F: continue  // : @ / ?
      default: return "invalid character in the request target"
      }
    }
    return pendingHex > 0 ? "malformed percent-encoding in the request target" : nil
  }

  static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: return byte - 0x30
    case 0x41...0x46: return byte - 0x41 + 10
    case 0x61...0x66: return byte - 0x61 + 10
    default: return nil
    }
  }

  /// The elements of a comma-separated field value, trimmed, empty ones dropped.
  static func commaSeparated(_ value: String) -> [String] {
    value.split(separator: ",").map { $0.trimmingSpacesAndTabs() }.filter { !$0.isEmpty }
  }
}

extension Substring {
  func trimmingSpacesAndTabs() -> String {
    var slice = self[...]
    while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
    while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
    return String(slice)
  }
}
