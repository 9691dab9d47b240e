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
  public static func isValidCustomName(_ name: String) -> Bool {
    guard !name.isEmpty, !name.hasPrefix("grpc-"), !name.hasPrefix(":") else { return false }
    if reservedNames.contains(name) { return false }
    return name.utf8.allSatisfy { byte in
      (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2E
        || byte == 0x2D
    }
  }

  /// ASCII values: printable 0x20–0x7E with no leading or trailing space.
  public static func isValidASCIIValue(_ value: String) -> Bool {
    guard value.first != " ", value.last != " " else { return false }
    return value.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
  }

  /// Headers that belong to the protocol, never to an application's metadata.
  static let reservedNames: Set<String> = [
    "content-type", "te", "user-agent", "authorization", "content-length", "connection",
    "transfer-encoding", "host", "keep-alive", "upgrade", "proxy-connection",
  ]
}
