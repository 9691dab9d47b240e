// `Codable` values over the JSON operations, encoded and decoded by `DocumentCoding`. The
// transaction and store spellings mirror each other: the transaction ones are the real work,
// the store ones either wrap a single raw call (reads) or open a transaction.

extension DocumentTransaction {
  public func get<Value: Decodable>(_ type: Value.Type, from collection: String, id: String) throws -> Stored<Value>? {
    try get(collection, id: id)?.decode(type)
  }

  @discardableResult
  public func insert<Value: Encodable>(_ value: Value, into collection: String, id: String) throws -> Stored<Value> {
    let document = try insert(collection, id: id, json: DocumentCoding.encode(value, collection: collection))
    return Stored(id: id, version: document.version, value: value)
  }

  @discardableResult
  public func put<Value: Encodable>(_ value: Value, in collection: String, id: String) throws -> Stored<Value> {
    let document = try put(collection, id: id, json: DocumentCoding.encode(value, collection: collection))
    return Stored(id: id, version: document.version, value: value)
  }

  /// Writes `value` if the document is still at `expectedVersion`.
  @discardableResult
  public func update<Value: Encodable>(
    _ value: Value, in collection: String, id: String, expectedVersion: Int64
  ) throws -> Stored<Value> {
    let json = try DocumentCoding.encode(value, collection: collection)
    let document = try update(collection, id: id, expectedVersion: expectedVersion, json: json)
    return Stored(id: id, version: document.version, value: value)
  }

  /// Writes back a document read earlier, if nobody has written it since.
  @discardableResult
  public func update<Value: Encodable>(_ stored: Stored<Value>, in collection: String) throws -> Stored<Value> {
    try update(stored.value, in: collection, id: stored.id, expectedVersion: stored.version)
  }

  /// Reads, changes and writes back one document inside this transaction (`notFound` if missing).
  @discardableResult
  public func modify<Value: Codable>(
    _ type: Value.Type, in collection: String, id: String, _ change: (inout Value) throws -> Void
  ) throws -> Stored<Value> {
    guard var stored = try get(type, from: collection, id: id) else {
      throw StoreError.notFound(collection: collection)
    }
    try change(&stored.value)
    return try update(stored, in: collection)
  }

  public func query<Value: Decodable>(
    _ type: Value.Type, from collection: String, where conditions: [Condition] = [],
    orderBy order: [SortKey] = [], limit: Int = 100, after cursor: PageCursor? = nil
  ) throws -> Page<Stored<Value>> {
    try query(collection, where: conditions, orderBy: order, limit: limit, after: cursor).decoded(type)
  }

  public func claim<Value: Decodable>(
    _ type: Value.Type, from collection: String, where conditions: [Condition],
    orderBy order: [SortKey] = [], limit: Int, set fields: [String: StoreValue]
  ) throws -> [Stored<Value>] {
    try claim(collection, where: conditions, orderBy: order, limit: limit, set: fields).map { try $0.decode(type) }
  }
}

extension DocumentStore {
  public func get<Value: Decodable & Sendable>(
    _ type: Value.Type, from collection: String, id: String
  ) async throws -> Stored<Value>? {
    try await get(collection, id: id)?.decode(type)
  }

  @discardableResult
  public func insert<Value: Encodable & Sendable>(
    _ value: Value, into collection: String, id: String
  ) async throws -> Stored<Value> {
    let document = try await insert(collection, id: id, json: DocumentCoding.encode(value, collection: collection))
    return Stored(id: id, version: document.version, value: value)
  }

  @discardableResult
  public func put<Value: Encodable & Sendable>(
    _ value: Value, in collection: String, id: String
  ) async throws -> Stored<Value> {
    let document = try await put(collection, id: id, json: DocumentCoding.encode(value, collection: collection))
    return Stored(id: id, version: document.version, value: value)
  }

  @discardableResult
  public func update<Value: Encodable & Sendable>(
    _ value: Value, in collection: String, id: String, expectedVersion: Int64
  ) async throws -> Stored<Value> {
    let json = try DocumentCoding.encode(value, collection: collection)
    let document = try await update(collection, id: id, expectedVersion: expectedVersion, json: json)
    return Stored(id: id, version: document.version, value: value)
  }

  @discardableResult
  public func update<Value: Encodable & Sendable>(
    _ stored: Stored<Value>, in collection: String
  ) async throws -> Stored<Value> {
    try await update(stored.value, in: collection, id: stored.id, expectedVersion: stored.version)
  }

  /// Reads, changes and writes back one document in a single transaction, so no concurrent
  /// write can slip in between (`notFound` if missing).
  @discardableResult
  public func modify<Value: Codable & Sendable>(
    _ type: Value.Type, in collection: String, id: String,
    _ change: sending @escaping (inout Value) throws -> Void
  ) async throws -> Stored<Value> {
    try await transaction { try $0.modify(type, in: collection, id: id, change) }
  }

  public func query<Value: Decodable & Sendable>(
    _ type: Value.Type, from collection: String, where conditions: [Condition] = [],
    orderBy order: [SortKey] = [], limit: Int = 100, after cursor: PageCursor? = nil
  ) async throws -> Page<Stored<Value>> {
    try await query(collection, where: conditions, orderBy: order, limit: limit, after: cursor).decoded(type)
  }

  public func claim<Value: Decodable & Sendable>(
    _ type: Value.Type, from collection: String, where conditions: [Condition],
    orderBy order: [SortKey] = [], limit: Int, set fields: [String: StoreValue]
  ) async throws -> [Stored<Value>] {
    try await claim(collection, where: conditions, orderBy: order, limit: limit, set: fields).map { try $0.decode(type) }
  }
}

extension Page where Item == Document {
  func decoded<Value: Decodable>(_ type: Value.Type) throws -> Page<Stored<Value>> {
    Page<Stored<Value>>(items: try items.map { try $0.decode(type) }, next: next)
  }
}
