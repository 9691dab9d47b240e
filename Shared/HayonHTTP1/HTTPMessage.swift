/// An HTTP header field as received or to be sent. Names compare case-insensitively.
public struct HTTPField: Sendable, Hashable {
  public var name: String
  public var value: String

  public init(_ name: String, _ value: String) {
    self.name = name
    self.value = value
  }
}

/// Ordered header fields with case-insensitive lookup (field order is kept for the wire).
public struct HTTPFields: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
  public private(set) var fields: [HTTPField] = []

  public init() {}
  public init(_ fields: [HTTPField]) { self.fields = fields }
  public init(dictionaryLiteral elements: (String, String)...) {
    fields = elements.map { HTTPField($0.0, $0.1) }
  }

  /// The first value for `name`, or nil.
  public subscript(_ name: String) -> String? {
    fields.first { $0.name.caseInsensitiveEquals(name) }?.value
  }

  /// Every value for `name`, in order.
  public func values(_ name: String) -> [String] {
    fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
  }

  public mutating func add(_ name: String, _ value: String) { fields.append(HTTPField(name, value)) }

  /// Replaces every field named `name` with one field.
  public mutating func set(_ name: String, _ value: String) {
    remove(name)
    add(name, value)
  }

  public mutating func remove(_ name: String) { fields.removeAll { $0.name.caseInsensitiveEquals(name) } }

  public var count: Int { fields.count }
  public func makeIterator() -> IndexingIterator<[HTTPField]> { fields.makeIterator() }
}

/// A complete HTTP request, as the server hands it to a handler (body fully read, de-chunked).
public struct HTTPRequest: Sendable, Hashable {
  public var method: String
  /// The request target exactly as sent (origin-form: path plus optional `?query`, or `*`).
  public var target: String
  /// The protocol version from the request line.
  public var version: HTTPVersion
  public var headers: HTTPFields
  public var body: [UInt8]

  public init(
    method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPFields = HTTPFields(),
    body: [UInt8] = []
  ) {
    self.method = method
    self.target = target
    self.version = version
    self.headers = headers
    self.body = body
  }

  /// The target's path, still percent-encoded.
  public var path: Substring {
    // Searched as bytes: `?` is ASCII, and a Character search costs a grapheme walk per request.
    target.utf8.firstIndex(of: 0x3F).map { target[..<$0] } ?? target[...]
  }

  /// The raw query string after `?`, or nil.
  public var query: Substring? {
    target.utf8.firstIndex(of: 0x3F).map { target[target.utf8.index(after: $0)...] }
  }
}

/// An HTTP version as written on the request line (`HTTP/1.1` is major 1, minor 1).
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
  public var major: Int
  public var minor: Int

  public init(major: Int, minor: Int) {
    self.major = major
    self.minor = minor
  }

  public static let http1_0 = HTTPVersion(major: 1, minor: 0)
  public static let http1_1 = HTTPVersion(major: 1, minor: 1)

  /// Parses exactly `HTTP/` DIGIT `.` DIGIT (RFC 9112 §2.3); nil for anything else.
  init?(bytes: some Collection<UInt8>) {
    let text = Array(bytes)
    guard text.count == 8, text[0..<5].elementsEqual("HTTP/".utf8), text[6] == 0x2E,
      (0x30...0x39).contains(text[5]), (0x30...0x39).contains(text[7])
    else { return nil }
    self.init(major: Int(text[5] - 0x30), minor: Int(text[7] - 0x30))
  }

  public var description: String {
    // The two versions served, without building a string per request.
    if major == 1 && minor == 1 { return "HTTP/1.1" }
    if major == 1 && minor == 0 { return "HTTP/1.0" }
    return "HTTP/\(major).\(minor)"
  }
}

/// A complete HTTP response. The server owns the framing: it sets `Content-Length` (none for
/// 204 and 304), `Date` unless the handler set one, and `Connection` when closing; a handler's own
/// `Content-Length`, `Transfer-Encoding` and `Connection` fields are replaced. A handler that
/// sets `Connection: close` gets the connection closed after the response.
public struct HTTPResponse: Sendable, Hashable {
  public var status: Int
  public var headers: HTTPFields
  public var body: [UInt8]
  /// When true the server closes the connection without writing anything: test emulators use
  /// it to play "the request was processed but the answer was lost".
  public var dropsConnection: Bool

  public init(status: Int, headers: HTTPFields = HTTPFields(), body: [UInt8] = [], dropsConnection: Bool = false) {
    self.status = status
    self.headers = headers
    self.body = body
    self.dropsConnection = dropsConnection
  }
}

extension String {
  /// ASCII case-insensitive comparison (header names are ASCII tokens).
  @inlinable
  func caseInsensitiveEquals(_ other: String) -> Bool {
    guard utf8.count == other.utf8.count else { return false }
    return zip(utf8, other.utf8).allSatisfy { a, b in
      a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= 0x61 && (a | 0x20) <= 0x7A)
    }
  }
}
