/// The document operations, as run inside one transaction. `DocumentStore.transaction` hands a
/// value of this type to its closure; every store operation is also available on the store
/// itself, where it runs as a transaction of its own.
///
/// Versions: `insert` creates version 1, and every write of an existing document (`put`,
/// `update`, `patch`, being claimed) adds one. A write given an `expectedVersion` that is no
/// longer current throws `StoreError.versionConflict` and writes nothing. Deleting a document
/// forgets its version: a document re-inserted under the same id starts at 1 again.
///
/// Every method throws `StoreError`. Collections must be declared in the `StoreSchema`; JSON
/// passed in must be an object whose indexed fields have their declared types.
public protocol DocumentTransaction {
  /// The document, or `nil` if there is none with that id.
  func get(_ collection: String, id: String) throws -> Document?
  /// Creates the document; throws `alreadyExists` if the id is taken.
  @discardableResult
  func insert(_ collection: String, id: String, json: String) throws -> Document
  /// Creates or replaces the document, whatever its current version.
  @discardableResult
  func put(_ collection: String, id: String, json: String) throws -> Document
  /// Replaces the document if its version is still `expectedVersion` (`notFound`, `versionConflict`).
  @discardableResult
  func update(_ collection: String, id: String, expectedVersion: Int64, json: String) throws -> Document
  /// Sets top-level fields of the document, leaving the rest as is; checks the version if one is given.
  @discardableResult
  func patch(
    _ collection: String, id: String, expectedVersion: Int64?, set fields: [String: StoreValue]
  ) throws -> Document
  /// Deletes the document; `false` if there was none. Checks the version if one is given.
  @discardableResult
  func delete(_ collection: String, id: String, expectedVersion: Int64?) throws -> Bool
  /// One page of the documents matching `query`.
  func query(_ collection: String, _ query: Query) throws -> Page<Document>
  /// Atomically selects the documents matching `query` (conditions, order, limit; no cursor) and
  /// sets `fields` on each; returns them as written. Compare-and-set over many documents: make
  /// the conditions exclude what `fields` sets (`status == "scheduled"` → `status: "publishing"`)
  /// and concurrent claimers never get the same document.
  @discardableResult
  func claim(_ collection: String, _ query: Query, set fields: [String: StoreValue]) throws -> [Document]
}

/// A database of JSON document collections. Services hold an `any DocumentStore`; the SQLite
/// implementation is `SQLiteStore`, a PostgreSQL one can follow behind the same protocol.
///
/// Single operations are atomic. `transaction` groups several, across collections, all or
/// nothing. Its closure is synchronous on purpose: a transaction holds the database's write
/// lock, so it must not wait on the network or other tasks while open.
public protocol DocumentStore: Sendable {
  func get(_ collection: String, id: String) async throws -> Document?
  @discardableResult
  func insert(_ collection: String, id: String, json: String) async throws -> Document
  @discardableResult
  func put(_ collection: String, id: String, json: String) async throws -> Document
  @discardableResult
  func update(_ collection: String, id: String, expectedVersion: Int64, json: String) async throws -> Document
  @discardableResult
  func patch(
    _ collection: String, id: String, expectedVersion: Int64?, set fields: [String: StoreValue]
  ) async throws -> Document
  @discardableResult
  func delete(_ collection: String, id: String, expectedVersion: Int64?) async throws -> Bool
  func query(_ collection: String, _ query: Query) async throws -> Page<Document>
  @discardableResult
  func claim(_ collection: String, _ query: Query, set fields: [String: StoreValue]) async throws -> [Document]

  /// Runs `body` in one transaction: committed if it returns, rolled back if it throws (the
  /// error is rethrown as is).
  func transaction<Result: Sendable>(
    _ body: sending (any DocumentTransaction) throws -> Result
  ) async throws -> Result

  /// Closes the database. Later calls throw `StoreError.closed`.
  func close() async
}

// Every single operation is a transaction of one; implementations override where they can do
// better (SQLite serves reads from a separate read connection).
extension DocumentStore {
  public func get(_ collection: String, id: String) async throws -> Document? {
    try await transaction { try $0.get(collection, id: id) }
  }

  @discardableResult
  public func insert(_ collection: String, id: String, json: String) async throws -> Document {
    try await transaction { try $0.insert(collection, id: id, json: json) }
  }

  @discardableResult
  public func put(_ collection: String, id: String, json: String) async throws -> Document {
    try await transaction { try $0.put(collection, id: id, json: json) }
  }

  @discardableResult
  public func update(
    _ collection: String, id: String, expectedVersion: Int64, json: String
  ) async throws -> Document {
    try await transaction { try $0.update(collection, id: id, expectedVersion: expectedVersion, json: json) }
  }

  @discardableResult
  public func patch(
    _ collection: String, id: String, expectedVersion: Int64?, set fields: [String: StoreValue]
  ) async throws -> Document {
    try await transaction { try $0.patch(collection, id: id, expectedVersion: expectedVersion, set: fields) }
  }

  @discardableResult
  public func delete(_ collection: String, id: String, expectedVersion: Int64?) async throws -> Bool {
    try await transaction { try $0.delete(collection, id: id, expectedVersion: expectedVersion) }
  }

  public func query(_ collection: String, _ query: Query) async throws -> Page<Document> {
    try await transaction { try $0.query(collection, query) }
  }

  @discardableResult
  public func claim(
    _ collection: String, _ query: Query, set fields: [String: StoreValue]
  ) async throws -> [Document] {
    try await transaction { try $0.claim(collection, query, set: fields) }
  }
}

// Shorter spellings: unconditional deletes and patches, queries and claims by their parts.
extension DocumentTransaction {
  @discardableResult
  public func delete(_ collection: String, id: String) throws -> Bool {
    try delete(collection, id: id, expectedVersion: nil)
  }

  @discardableResult
  public func patch(_ collection: String, id: String, set fields: [String: StoreValue]) throws -> Document {
    try patch(collection, id: id, expectedVersion: nil, set: fields)
  }

  public func query(
    _ collection: String, where conditions: [Condition] = [], orderBy order: [SortKey] = [],
    limit: Int = 100, after cursor: PageCursor? = nil
  ) throws -> Page<Document> {
    try query(collection, Query(where: conditions, orderBy: order, limit: limit, after: cursor))
  }

  @discardableResult
  public func claim(
    _ collection: String, where conditions: [Condition], orderBy order: [SortKey] = [], limit: Int,
    set fields: [String: StoreValue]
  ) throws -> [Document] {
    try claim(collection, Query(where: conditions, orderBy: order, limit: limit), set: fields)
  }
}

extension DocumentStore {
  @discardableResult
  public func delete(_ collection: String, id: String) async throws -> Bool {
    try await delete(collection, id: id, expectedVersion: nil)
  }

  @discardableResult
  public func patch(_ collection: String, id: String, set fields: [String: StoreValue]) async throws -> Document {
    try await patch(collection, id: id, expectedVersion: nil, set: fields)
  }

  public func query(
    _ collection: String, where conditions: [Condition] = [], orderBy order: [SortKey] = [],
    limit: Int = 100, after cursor: PageCursor? = nil
  ) async throws -> Page<Document> {
    try await query(collection, Query(where: conditions, orderBy: order, limit: limit, after: cursor))
  }

  @discardableResult
  public func claim(
    _ collection: String, where conditions: [Condition], orderBy order: [SortKey] = [], limit: Int,
    set fields: [String: StoreValue]
  ) async throws -> [Document] {
    try await claim(collection, Query(where: conditions, orderBy: order, limit: limit), set: fields)
  }
}
