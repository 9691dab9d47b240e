#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A stored JSON document as it comes out of the store.
///
/// `description` deliberately omits the id and the body, so printing or logging a `Document`
/// cannot leak what it holds.
public struct Document: Sendable, Hashable, CustomStringConvertible {
  public let collection: String
  public let id: String
  /// Starts at 1 on insert and grows by one with every write (see `DocumentTransaction`).
  public let version: Int64
  /// The document: a JSON object, as text.
  public let json: String

  public init(collection: String, id: String, version: Int64, json: String) {
    self.collection = collection
    self.id = id
    self.version = version
    self.json = json
  }

  public var description: String {
    "Document(collection: \(collection), version: \(version), \(json.utf8.count) bytes)"
  }

  /// The document decoded as `type`, keeping its id and version.
  public func decode<Value: Decodable>(_ type: Value.Type) throws -> Stored<Value> {
    Stored(id: id, version: version, value: try DocumentCoding.decode(type, from: json, collection: collection))
  }
}

/// A decoded document with the id and version it was read at. Pass it back to
/// `update(_:in:)` to write it only if nobody else has since.
public struct Stored<Value> {
  public let id: String
  public let version: Int64
  public var value: Value

  public init(id: String, version: Int64, value: Value) {
    self.id = id
    self.version = version
    self.value = value
  }
}

extension Stored: Sendable where Value: Sendable {}
extension Stored: Equatable where Value: Equatable {}
extension Stored: Hashable where Value: Hashable {}

/// One page of a query, and where the next one starts (`nil` on the last page).
public struct Page<Item> {
  public var items: [Item]
  public var next: PageCursor?

  public init(items: [Item], next: PageCursor?) {
    self.items = items
    self.next = next
  }
}

extension Page: Sendable where Item: Sendable {}
extension Page: Equatable where Item: Equatable {}

/// Where a page ended: the sort values and id of its last document, plus the ordering it was
/// made for (a cursor is refused by a query with a different ordering).
///
/// The token is URL-safe base64 and opaque to callers, so a service can hand it to REST
/// clients as a page token. It contains the last document's id and sort-field values.
public struct PageCursor: Sendable, Hashable, CustomStringConvertible {
  public let token: String

  public init(token: String) { self.token = token }

  public var description: String { token }

  /// The position the cursor encodes.
  struct Position: Hashable {
    /// `SortKey`s rendered as `field:asc,...`; must match the query using the cursor.
    var ordering: String
    var values: [StoreValue]
    var id: String
  }

  init(_ position: Position) {
    let wire = Wire(
      o: position.ordering, v: position.values.map(Self.encode), k: position.id)
    // Encoding a struct of strings cannot fail.
    let data = (try? JSONEncoder().encode(wire)) ?? Data()
    token = data.base64EncodedString()
      .replacing("+", with: "-")
      .replacing("/", with: "_")
      .replacing("=", with: "")
  }

  func position() throws(StoreError) -> Position {
    var base64 = token.replacing("-", with: "+").replacing("_", with: "/")
    base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
    guard let data = Data(base64Encoded: base64),
      let wire = try? JSONDecoder().decode(Wire.self, from: data)
    else { throw StoreError.invalidArgument("malformed page cursor") }
    var values: [StoreValue] = []
    for encoded in wire.v {
      guard let value = Self.decode(encoded) else {
        throw StoreError.invalidArgument("malformed page cursor")
      }
      values.append(value)
    }
    return Position(ordering: wire.o, values: values, id: wire.k)
  }

  private struct Wire: Codable {
    var o: String
    var v: [String]
    var k: String
  }

  // Values as tagged strings, doubles by bit pattern: a cursor must restore them exactly, or
  // the next page could skip or repeat documents.
  private static func encode(_ value: StoreValue) -> String {
    switch value {
    case .null: "n"
    case .bool(let value): value ? "b1" : "b0"
    case .integer(let value): "i\(value)"
    case .double(let value): "d\(value.bitPattern)"
    case .string(let value): "s\(value)"
    }
  }

  private static func decode(_ text: String) -> StoreValue? {
    guard let tag = text.first else { return nil }
    let rest = String(text.dropFirst())
    switch tag {
    case "n": return rest.isEmpty ? .null : nil
    case "b": return rest == "1" ? .bool(true) : rest == "0" ? .bool(false) : nil
    case "i": return Int64(rest).map(StoreValue.integer)
    case "d": return UInt64(rest).map { .double(Double(bitPattern: $0)) }
    case "s": return .string(rest)
    default: return nil
    }
  }
}
