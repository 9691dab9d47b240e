/// The one error type of the store. Messages name collections, fields and versions, never
/// document contents or ids: documents hold secrets (sealed tokens, OAuth state) and ids can be
/// secrets themselves (a pending flow is keyed by its `state`), while these messages end up in
/// logs. The caller already knows which id it asked for.
public enum StoreError: Error, Sendable, Hashable, CustomStringConvertible {
  /// No document with that id in the collection.
  case notFound(collection: String)
  /// `insert` found a document with that id already.
  case alreadyExists(collection: String)
  /// An optimistic write named a version that is no longer current; nothing was written.
  case versionConflict(collection: String, expected: Int64, actual: Int64)
  /// A collection or field name that cannot become an SQL identifier.
  case invalidName(String)
  /// A well-formed collection name that the schema does not declare.
  case unknownCollection(String)
  /// A bad argument: an undeclared or mistyped query field, a bad limit, id or cursor, an
  /// inconsistent schema or migration list.
  case invalidArgument(String)
  /// A document that cannot be stored: not a JSON object, or an indexed field of the wrong type.
  case invalidDocument(collection: String, reason: String)
  /// Stored data that cannot be read back: a damaged database file, or a document that no
  /// longer decodes as the requested type.
  case corrupt(String)
  /// The database stayed locked by another connection for longer than the busy timeout.
  case busy
  /// The store (or a transaction handle) was used after it was closed.
  case closed
  /// The database was migrated by newer code than this; refusing to touch it.
  case schemaTooNew(database: Int, supported: Int)
  /// A migration threw or its SQL failed; it was rolled back and not recorded.
  case migrationFailed(version: Int, name: String, reason: String)
  /// Any other failure of the database engine or the file system.
  case io(String)

  public var description: String {
    switch self {
    case .notFound(let collection): "no such document in '\(collection)'"
    case .alreadyExists(let collection): "a document with that id already exists in '\(collection)'"
    case .versionConflict(let collection, let expected, let actual):
      "version conflict in '\(collection)': expected version \(expected), found \(actual)"
    case .invalidName(let name): "invalid name '\(name)': use [a-z][a-z0-9_]* (fields may be camelCase)"
    case .unknownCollection(let name): "collection '\(name)' is not declared in the schema"
    case .invalidArgument(let reason): "invalid argument: \(reason)"
    case .invalidDocument(let collection, let reason): "invalid document for '\(collection)': \(reason)"
    case .corrupt(let reason): "corrupt data: \(reason)"
    case .busy: "the database is busy (locked longer than the busy timeout)"
    case .closed: "the store is closed"
    case .schemaTooNew(let database, let supported):
      "the database schema is version \(database) but this code only knows up to \(supported); "
        + "run newer code or restore a matching backup"
    case .migrationFailed(let version, let name, let reason):
      "migration \(version) '\(name)' failed and was rolled back: \(reason)"
    case .io(let reason): "storage error: \(reason)"
    }
  }
}
