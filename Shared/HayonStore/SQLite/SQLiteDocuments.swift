/// The document operations on one SQLite connection. Inside `SQLiteStore.transaction` it runs
/// within `BEGIN IMMEDIATE`; for plain reads on the read connection each statement is its own
/// (consistent) snapshot.
///
/// Not `Sendable`: it holds the connection, and lives only for one call on the connection's
/// owning actor. `end()` disarms it, so a handle smuggled out of its transaction fails with
/// `StoreError.closed` instead of touching the connection.
final class SQLiteDocuments: DocumentTransaction {
  /// Ids are bound as parameters, so any text is safe; the bound keeps index keys reasonable.
  static let maximumIDLength = 512

  private let connection: SQLiteConnection
  private let schema: StoreSchema
  private var isActive = true

  init(connection: SQLiteConnection, schema: StoreSchema) {
    self.connection = connection
    self.schema = schema
  }

  func end() { isActive = false }

  // MARK: - Reads

  func get(_ collection: String, id: String) throws -> Document? {
    let collection = try resolve(collection, id: id)
    let sql = "SELECT version, doc FROM \(SQLiteSQL.table(collection.name)) WHERE id = ?"
    return try connection.withStatement(sql) { statement throws(StoreError) in
      try statement.bind([.string(id)])
      guard try statement.step() else { return nil }
      return Document(
        collection: collection.name, id: id, version: statement.int64(at: 0), json: statement.text(at: 1) ?? "")
    }
  }

  func query(_ collection: String, _ query: Query) throws -> Page<Document> {
    let collection = try resolve(collection)
    guard (1...Query.maximumLimit).contains(query.limit) else {
      throw StoreError.invalidArgument("limit must be between 1 and \(Query.maximumLimit)")
    }
    let select = try SQLiteSelect(collection: collection, query: query, rowLimit: query.limit + 1)
    var rows = try run(select, in: collection)
    guard rows.count > query.limit else { return Page(items: rows.map(\.document), next: nil) }
    rows.removeLast(rows.count - query.limit)
    let last = rows[rows.count - 1]
    let next = PageCursor(.init(ordering: select.ordering, values: last.sortValues, id: last.document.id))
    return Page(items: rows.map(\.document), next: next)
  }

  // MARK: - Writes

  func insert(_ collection: String, id: String, json: String) throws -> Document {
    let collection = try resolve(collection, id: id)
    try validate(json, for: collection)
    let sql = "INSERT INTO \(SQLiteSQL.table(collection.name)) (id, version, doc) VALUES (?, 1, ?)"
    do {
      try connection.run(sql, [.string(id), .string(json)])
    } catch {
      // Not `catch .io(_) where …`: that typed-throws pattern crashes the Swift 6.3.1 compiler.
      throw connection.lastErrorIsDuplicateKey ? StoreError.alreadyExists(collection: collection.name) : error
    }
    return Document(collection: collection.name, id: id, version: 1, json: json)
  }

  func put(_ collection: String, id: String, json: String) throws -> Document {
    let collection = try resolve(collection, id: id)
    try validate(json, for: collection)
    let sql = """
      INSERT INTO \(SQLiteSQL.table(collection.name)) (id, version, doc) VALUES (?, 1, ?)
      ON CONFLICT (id) DO UPDATE SET version = version + 1, doc = excluded.doc RETURNING version
      """
    let version = try connection.withStatement(sql) { statement throws(StoreError) in
      try statement.bind([.string(id), .string(json)])
      _ = try statement.step()
      return statement.int64(at: 0)
    }
    return Document(collection: collection.name, id: id, version: version, json: json)
  }

  func update(_ collection: String, id: String, expectedVersion: Int64, json: String) throws -> Document {
    let collection = try resolve(collection, id: id)
    try validate(json, for: collection)
    let sql = """
      UPDATE \(SQLiteSQL.table(collection.name)) SET version = version + 1, doc = ?
      WHERE id = ? AND version = ? RETURNING version
      """
    let version = try connection.withStatement(sql) { statement throws(StoreError) -> Int64? in
      try statement.bind([.string(json), .string(id), .integer(expectedVersion)])
      return try statement.step() ? statement.int64(at: 0) : nil
    }
    guard let version else { throw try refusal(collection, id: id, expectedVersion: expectedVersion) }
    return Document(collection: collection.name, id: id, version: version, json: json)
  }

  func patch(
    _ collection: String, id: String, expectedVersion: Int64?, set fields: [String: StoreValue]
  ) throws -> Document {
    let collection = try resolve(collection, id: id)
    let assignments = try Self.assignments(fields, for: collection)
    var sql = "UPDATE \(SQLiteSQL.table(collection.name)) SET version = version + 1, doc = json_set(doc"
    var bindings: [StoreValue] = []
    for (field, value) in assignments {
      // json_set writes SQL integers as JSON numbers; a boolean has to arrive as JSON text.
      if case .bool(let flag) = value {
        sql += ", \(SQLiteSQL.jsonPath(field)), json(?)"
        bindings.append(.string(flag ? "true" : "false"))
      } else {
        sql += ", \(SQLiteSQL.jsonPath(field)), ?"
        bindings.append(value)
      }
    }
    sql += ") WHERE id = ?"
    bindings.append(.string(id))
    if let expectedVersion {
      sql += " AND version = ?"
      bindings.append(.integer(expectedVersion))
    }
    sql += " RETURNING version, doc"
    let written = try connection.withStatement(sql) { statement throws(StoreError) -> (Int64, String)? in
      try statement.bind(bindings)
      return try statement.step() ? (statement.int64(at: 0), statement.text(at: 1) ?? "") : nil
    }
    guard let (version, json) = written else {
      throw try refusal(collection, id: id, expectedVersion: expectedVersion)
    }
    return Document(collection: collection.name, id: id, version: version, json: json)
  }

  func delete(_ collection: String, id: String, expectedVersion: Int64?) throws -> Bool {
    let collection = try resolve(collection, id: id)
    var sql = "DELETE FROM \(SQLiteSQL.table(collection.name)) WHERE id = ?"
    var bindings: [StoreValue] = [.string(id)]
    if let expectedVersion {
      sql += " AND version = ?"
      bindings.append(.integer(expectedVersion))
    }
    try connection.run(sql, bindings)
    if connection.changes > 0 { return true }
    guard let expectedVersion, let actual = try currentVersion(collection, id: id) else { return false }
    throw StoreError.versionConflict(collection: collection.name, expected: expectedVersion, actual: actual)
  }

  func claim(_ collection: String, _ query: Query, set fields: [String: StoreValue]) throws -> [Document] {
    let schema = try resolve(collection)
    guard query.after == nil else { throw StoreError.invalidArgument("a claim takes no page cursor") }
    _ = try Self.assignments(fields, for: schema)  // refuse bad fields even when nothing matches
    // Atomic because the caller holds the write lock for the whole transaction: nobody can
    // change or claim these rows between the select and the writes.
    return try self.query(collection, query).items.map { document in
      try patch(collection, id: document.id, expectedVersion: document.version, set: fields)
    }
  }

  // MARK: - Checks

  private func resolve(_ name: String, id: String? = nil) throws(StoreError) -> CollectionSchema {
    guard isActive else { throw StoreError.closed }
    guard let collection = schema.collection(named: name) else {
      try StoreName.validateCollection(name)
      throw StoreError.unknownCollection(name)
    }
    if let id, id.isEmpty || id.utf8.count > Self.maximumIDLength {
      throw StoreError.invalidArgument("a document id must be 1 to \(Self.maximumIDLength) bytes")
    }
    return collection
  }

  /// Refuses anything but a JSON object whose indexed fields have their declared types: the
  /// indexes must hold what queries expect.
  private func validate(_ json: String, for collection: CollectionSchema) throws(StoreError) {
    // One statement per collection: json_type of the document and of each indexed field, and
    // no row at all when the text is not JSON (json_type would fail on it).
    let sql = "SELECT " + (["json_type(?1)"] + collection.fields.map { "json_type(?1, \(SQLiteSQL.jsonPath($0.name)))" })
      .joined(separator: ", ") + " WHERE json_valid(?1)"
    try connection.withStatement(sql) { statement throws(StoreError) in
      try statement.bind([.string(json)])
      guard try statement.step() else {
        throw StoreError.invalidDocument(collection: collection.name, reason: "not valid JSON")
      }
      guard statement.text(at: 0) == "object" else {
        throw StoreError.invalidDocument(collection: collection.name, reason: "not a JSON object")
      }
      for (offset, field) in collection.fields.enumerated() {
        guard let type = statement.text(at: Int32(offset + 1)), type != "null" else { continue }
        guard field.type.jsonTypes.contains(type) else {
          throw StoreError.invalidDocument(
            collection: collection.name, reason: "indexed field '\(field.name)' must be \(field.type.expectation)")
        }
      }
    }
  }

  /// The fields to set, in a fixed order (so the SQL text, and its cached statement, is stable).
  private static func assignments(
    _ fields: [String: StoreValue], for collection: CollectionSchema
  ) throws(StoreError) -> [(String, StoreValue)] {
    guard !fields.isEmpty else { throw StoreError.invalidArgument("nothing to set") }
    for (name, value) in fields {
      guard name != DocumentKey.idField else {
        throw StoreError.invalidArgument("'id' is the document key and cannot be set")
      }
      try StoreName.validateField(name)
      if case .double(let number) = value, !number.isFinite {
        throw StoreError.invalidArgument("'\(name)' cannot be set to a non-finite number")
      }
      if let field = collection.field(named: name), !field.type.accepts(value) {
        throw StoreError.invalidArgument("'\(name)' is \(field.type.expectation)")
      }
    }
    return fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  }

  /// Why a versioned write matched no row: the document is gone, or its version moved on.
  private func refusal(_ collection: CollectionSchema, id: String, expectedVersion: Int64?) throws -> StoreError {
    guard let actual = try currentVersion(collection, id: id) else {
      return .notFound(collection: collection.name)
    }
    return .versionConflict(collection: collection.name, expected: expectedVersion ?? actual, actual: actual)
  }

  private func currentVersion(_ collection: CollectionSchema, id: String) throws(StoreError) -> Int64? {
    let sql = "SELECT version FROM \(SQLiteSQL.table(collection.name)) WHERE id = ?"
    return try connection.withStatement(sql) { statement throws(StoreError) in
      try statement.bind([.string(id)])
      return try statement.step() ? statement.int64(at: 0) : nil
    }
  }

  private func run(
    _ select: SQLiteSelect, in collection: CollectionSchema
  ) throws(StoreError) -> [(document: Document, sortValues: [StoreValue])] {
    try connection.withStatement(select.sql) { statement throws(StoreError) in
      try statement.bind(select.bindings)
      return try statement.rows { row in
        let document = Document(
          collection: collection.name, id: row.text(at: 0) ?? "", version: row.int64(at: 1),
          json: row.text(at: 2) ?? "")
        let sortValues = select.sortFields.enumerated().map { offset, field in
          field.cursorValue(row.value(at: SQLiteSelect.documentColumns + Int32(offset)))
        }
        return (document, sortValues)
      }
    }
  }
}
