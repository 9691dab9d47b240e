#if canImport(Glibc)
import Glibc
#endif

/// Call metadata: ordered name/value pairs with lower-case names. Binary values (names ending in
/// `-bin`) hold their base64 text as sent on the wire.
public struct Metadata: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
  public private(set) var entries: [(name: String, value: String)] = []

  public init() {}
  public init(dictionaryLiteral elements: (String, String)...) {
    for (name, value) in elements { add(name, value) }
  }

  public mutating func add(_ name: String, _ value: String) {
    entries.append((name.lowercased(), value))
  }

  /// Appends an entry whose name is already lower-case (checked by `isValidCustomName`, as every
  /// name taken from a request is): no case folding, so no allocation.
  mutating func appendWireEntry(_ name: String, _ value: String) {
    entries.append((name, value))
  }

  /// Replaces every value of `name`.
  public mutating func set(_ name: String, _ value: String) {
    let lower = name.lowercased()
    entries.removeAll { $0.name == lower }
    entries.append((lower, value))
  }

  public subscript(name: String) -> String? {
    let lower = name.lowercased()
    return entries.first { $0.name == lower }?.value
  }

  public func values(_ name: String) -> [String] {
    let lower = name.lowercased()
    return entries.filter { $0.name == lower }.map(\.value)
  }

  public var isEmpty: Bool { entries.isEmpty }
  public var count: Int { entries.count }

  public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
    entries.makeIterator()
  }

  public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
    lhs.entries.elementsEqual(rhs.entries) { $0.name == $1.name && $0.value == $1.value }
  }

  public func hash(into hasher: inout Hasher) {
    for entry in entries {
      hasher.combine(entry.name)
      hasher.combine(entry.value)
    }
  }

  /// Names that may be sent as custom metadata: `[0-9a-z_.-]`, not reserved by gRPC or HTTP/2.
  /// Byte-level: the server asks this of every request header, so no hashing or allocation.
  public static func isValidCustomName(_ name: String) -> Bool {
    var name = name
    return name.withUTF8 { isValidCustomName(UnsafeRawBufferPointer($0)) }
  }

  /// The same test on the name's bytes.
  public static func isValidCustomName(_ bytes: UnsafeRawBufferPointer) -> Bool {
    guard !bytes.isEmpty else { return false }
    for byte in bytes {
      let allowed =
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2E
        || byte == 0x2D
      if !allowed { return false }  // also refuses pseudo-headers (":path")
    }
    if bytes.count >= 5 && bytes.starts(with: "grpc-") { return false }
    return !isReserved(bytes)
  }

  /// Headers that belong to the protocol (HTTP/2's or gRPC's), never to an application's
  /// metadata; by length first, so most names cost one integer compare.
  private static func isReserved(_ name: UnsafeRawBufferPointer) -> Bool {
    switch name.count {
    case 2: name.equals("te")
    case 4: name.equals("host")
    case 7: name.equals("upgrade")
    case 10: name.equals("user-agent") || name.equals("connection") || name.equals("keep-alive")
    case 12: name.equals("content-type")
    case 13: name.equals("authorization")
    case 14: name.equals("content-length")
    case 16: name.equals("proxy-connection")
    case 17: name.equals("transfer-encoding")
    default: false
    }
  }

  /// ASCII values: printable 0x20–0x7E with no leading or trailing space.
  public static func isValidASCIIValue(_ value: String) -> Bool {
    guard value.first != " ", value.last != " " else { return false }
    return value.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
  }
}

extension UnsafeRawBufferPointer {
  /// The bytes are exactly `text`'s UTF-8.
  @inline(__always)
  package func equals(_ text: StaticString) -> Bool {
    count == text.utf8CodeUnitCount && (count == 0 || memcmp(baseAddress!, text.utf8Start, count) == 0)
  }

  /// The bytes begin with `text`'s UTF-8.
  @inline(__always)
  package func starts(with text: StaticString) -> Bool {
    text.utf8CodeUnitCount == 0
      || (count >= text.utf8CodeUnitCount && memcmp(baseAddress!, text.utf8Start, text.utf8CodeUnitCount) == 0)
  }
}
