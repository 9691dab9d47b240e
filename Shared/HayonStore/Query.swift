#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A scalar as the store compares, orders and sets it: the value of one top-level JSON field.
///
/// Dates have no case of their own: `DocumentCoding` writes a `Date` as seconds since 2001 (a
/// JSON number), so `.date(_:)` produces that same number, and a query on a date field compares
/// and orders chronologically.
public enum StoreValue: Sendable, Hashable, CustomStringConvertible {
  case null
  case bool(Bool)
  case integer(Int64)
  case double(Double)
  case string(String)

  /// A date as documents store it (see `DocumentCoding`).
  public static func date(_ date: Date) -> StoreValue { .double(DocumentCoding.storedNumber(for: date)) }

  public var isNull: Bool { self == .null }

  public var description: String {
    switch self {
    case .null: "null"
    case .bool(let value): "\(value)"
    case .integer(let value): "\(value)"
    case .double(let value): "\(value)"
    case .string(let value): "\"\(value)\""
    }
  }
}

extension StoreValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
  ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral
{
  public init(stringLiteral value: String) { self = .string(value) }
  public init(integerLiteral value: Int64) { self = .integer(value) }
  public init(floatLiteral value: Double) { self = .double(value) }
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  public init(nilLiteral: ()) { self = .null }
}

/// A comparison of one field with a value. Build them with `Field`'s operators:
/// `Field("status") == "scheduled"`, `Field("dueAt") <= .date(now)`.
///
/// `field` is a declared indexed field of the collection, or `id` (the document key).
/// `==`/`!=` with `.null` match a missing or null field; `!=` a value also matches documents
/// where the field is missing. Order comparisons with `.null` are refused.
public struct Condition: Sendable, Hashable {
  public enum Comparison: String, Sendable, Hashable, CaseIterable {
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
  }

  public var field: String
  public var comparison: Comparison
  public var value: StoreValue

  public init(_ field: String, _ comparison: Comparison, _ value: StoreValue) {
    self.field = field
    self.comparison = comparison
    self.value = value
  }
}

/// A field name to build `Condition`s and `SortKey`s from.
public struct Field: Sendable {
  public let name: String
  public init(_ name: String) { self.name = name }

  /// The document key, usable in conditions and orderings of every collection.
  public static let id = Field(DocumentKey.idField)

  public var ascending: SortKey { SortKey(name, .ascending) }
  public var descending: SortKey { SortKey(name, .descending) }

  public static func == (field: Field, value: StoreValue) -> Condition { Condition(field.name, .equal, value) }
  public static func != (field: Field, value: StoreValue) -> Condition { Condition(field.name, .notEqual, value) }
  public static func < (field: Field, value: StoreValue) -> Condition { Condition(field.name, .less, value) }
  public static func <= (field: Field, value: StoreValue) -> Condition { Condition(field.name, .lessOrEqual, value) }
  public static func > (field: Field, value: StoreValue) -> Condition { Condition(field.name, .greater, value) }
  public static func >= (field: Field, value: StoreValue) -> Condition { Condition(field.name, .greaterOrEqual, value) }
}

/// One key of an ordering. Every ordering ends with the document id as a tie-breaker (in the
/// direction of the last key), which makes it total: that is what keeps paging stable.
/// Null and missing values sort lowest: first ascending, last descending.
public struct SortKey: Sendable, Hashable {
  public enum Direction: String, Sendable, Hashable { case ascending = "asc", descending = "desc" }

  public var field: String
  public var direction: Direction

  public init(_ field: String, _ direction: Direction = .ascending) {
    self.field = field
    self.direction = direction
  }

  public static func ascending(_ field: String) -> SortKey { SortKey(field, .ascending) }
  public static func descending(_ field: String) -> SortKey { SortKey(field, .descending) }
}

/// What to select from one collection: all conditions must hold (AND), in `order`, at most
/// `limit` documents, starting after `after` (a cursor from the previous page of the same query).
public struct Query: Sendable, Hashable {
  /// The largest page a single query returns; bigger reads page through cursors.
  public static let maximumLimit = 1_000

  public var conditions: [Condition]
  public var order: [SortKey]
  public var limit: Int
  public var after: PageCursor?

  public init(
    where conditions: [Condition] = [], orderBy order: [SortKey] = [], limit: Int = 100,
    after: PageCursor? = nil
  ) {
    self.conditions = conditions
    self.order = order
    self.limit = limit
    self.after = after
  }
}

/// Names the store reserves inside every collection.
enum DocumentKey {
  /// Conditions and orderings on `id` address the document key, not a JSON field.
  static let idField = "id"
}
