/// The type of an indexed field, as the document's JSON holds it. Writes are checked against
/// it (a `dueAt` that is a string is refused), and so are query values, so a mistyped
/// comparison fails loudly instead of silently matching nothing.
public enum FieldType: String, Sendable, Hashable {
  case string
  case integer
  /// Any JSON number.
  case double
  case bool
  /// A `Date` as `DocumentCoding` writes it (a number); compare with `StoreValue.date(_:)`.
  case date
}

/// A top-level JSON field a collection indexes, so queries and claims can filter and order by it.
public struct IndexedField: Sendable, Hashable {
  public let name: String
  public let type: FieldType

  public init(_ name: String, _ type: FieldType) {
    self.name = name
    self.type = type
  }

  public static func string(_ name: String) -> IndexedField { IndexedField(name, .string) }
  public static func integer(_ name: String) -> IndexedField { IndexedField(name, .integer) }
  public static func double(_ name: String) -> IndexedField { IndexedField(name, .double) }
  public static func bool(_ name: String) -> IndexedField { IndexedField(name, .bool) }
  public static func date(_ name: String) -> IndexedField { IndexedField(name, .date) }
}

/// A collection of JSON documents keyed by id, with the fields it indexes.
///
/// Every indexed field gets an index of its own (unless a compound index starts with it);
/// `compoundIndexes` add multi-field ones, for queries that filter on one field and order by
/// another: `[["status", "dueAt"]]` serves "status = X and dueAt <= T order by dueAt".
/// Only indexed fields (and `id`) may appear in conditions and orderings.
public struct CollectionSchema: Sendable, Hashable {
  public let name: String
  public let fields: [IndexedField]
  public let compoundIndexes: [[String]]

  public init(_ name: String, indexing fields: [IndexedField] = [], compoundIndexes: [[String]] = []) {
    self.name = name
    self.fields = fields
    self.compoundIndexes = compoundIndexes
  }

  public func field(named name: String) -> IndexedField? { fields.first { $0.name == name } }

  /// Every index the collection should have, as lists of field names.
  var indexes: [[String]] {
    let singles = fields.map(\.name).filter { name in
      !compoundIndexes.contains { $0.first == name }
    }
    return singles.map { [$0] } + compoundIndexes
  }

  func validate() throws(StoreError) {
    try StoreName.validateCollection(name)
    var seen: Set<String> = []
    for field in fields {
      try StoreName.validateField(field.name)
      // Identifiers are case-insensitive in SQLite, so `userId` and `userid` would share a column.
      guard seen.insert(field.name.lowercased()).inserted else {
        throw StoreError.invalidArgument("field '\(field.name)' is declared twice in '\(name)'")
      }
    }
    for index in compoundIndexes {
      guard index.count >= 2, Set(index).count == index.count else {
        throw StoreError.invalidArgument(
          "a compound index of '\(name)' needs two or more distinct fields")
      }
      for fieldName in index where field(named: fieldName) == nil {
        throw StoreError.invalidArgument(
          "compound index of '\(name)' names '\(fieldName)', which is not an indexed field")
      }
    }
  }
}

/// One step of a service's schema history. Migrations run at start-up, in version order, each
/// in its own transaction, and each exactly once per database (recorded in `schema_migrations`).
/// Never edit or renumber a migration that has shipped: add a new one.
public struct Migration: Sendable {
  public enum Step: Sendable {
    /// SQL run as is (several statements allowed). It is backend-specific: a PostgreSQL store
    /// will need its own text.
    case sql(String)
    /// Portable data changes through the document API (backfills, renames, seed documents).
    /// Runs after the declared collections exist.
    case documents(@Sendable (any DocumentTransaction) throws -> Void)
  }

  public let version: Int
  public let name: String
  public let step: Step

  public init(_ version: Int, _ name: String, sql: String) {
    self.init(version, name, step: .sql(sql))
  }

  public init(
    _ version: Int, _ name: String,
    documents: @escaping @Sendable (any DocumentTransaction) throws -> Void
  ) {
    self.init(version, name, step: .documents(documents))
  }

  public init(_ version: Int, _ name: String, step: Step) {
    self.version = version
    self.name = name
    self.step = step
  }
}

/// Everything a service declares about its data: its collections, and its migrations.
public struct StoreSchema: Sendable {
  public var collections: [CollectionSchema]
  public var migrations: [Migration]

  public init(collections: [CollectionSchema], migrations: [Migration] = []) {
    self.collections = collections
    self.migrations = migrations
  }

  /// The schema version this code brings a database to.
  public var latestVersion: Int { migrations.last?.version ?? 0 }

  public func collection(named name: String) -> CollectionSchema? {
    collections.first { $0.name == name }
  }

  func validate() throws(StoreError) {
    var names: Set<String> = []
    for collection in collections {
      try collection.validate()
      guard names.insert(collection.name).inserted else {
        throw StoreError.invalidArgument("collection '\(collection.name)' is declared twice")
      }
    }
    var previous = 0
    for migration in migrations {
      guard migration.version > previous else {
        throw StoreError.invalidArgument(
          "migration versions must start at 1 and strictly increase (\(migration.version) after \(previous))")
      }
      guard !migration.name.isEmpty else {
        throw StoreError.invalidArgument("migration \(migration.version) has no name")
      }
      previous = migration.version
    }
  }
}

/// The rules for names that become SQL identifiers. Values are always bound as parameters;
/// names cannot be, so they are held to a tiny alphabet instead, and quoted as well.
enum StoreName {
  /// Long enough for real names, short enough that derived identifiers (`ix_<collection>__<a>__<b>`)
  /// stay readable and within PostgreSQL's 63-byte identifier limit in the common case.
  static let maximumLength = 40

  /// `[a-z][a-z0-9_]*`.
  static func validateCollection(_ name: String) throws(StoreError) {
    guard isValid(name, allowingUppercase: false) else { throw StoreError.invalidName(name) }
  }

  /// `[a-z][A-Za-z0-9_]*`: fields are JSON keys written by `Codable`, hence camelCase (`userId`).
  /// `id` is reserved for the document key.
  static func validateField(_ name: String) throws(StoreError) {
    guard isValid(name, allowingUppercase: true), name != DocumentKey.idField else {
      throw StoreError.invalidName(name)
    }
  }

  private static func isValid(_ name: String, allowingUppercase: Bool) -> Bool {
    let bytes = Array(name.utf8)
    guard let first = bytes.first, bytes.count <= maximumLength, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first)
    else { return false }
    return bytes.allSatisfy { byte in
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"): true
      case UInt8(ascii: "A")...UInt8(ascii: "Z"): allowingUppercase
      default: false
      }
    }
  }
}
