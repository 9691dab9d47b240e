/// Brings a database up to the service's `StoreSchema` at start-up: checks it is not newer than
/// the code, creates the declared collections (tables, generated columns, indexes), then applies
/// pending migrations, each in its own transaction and recorded in `schema_migrations`.
/// Safe to run on every start and from several processes at once: every step re-reads the state
/// under the write lock before changing anything.
enum SQLiteSchemaSetup {
  static let migrationsTable = "schema_migrations"

  static func prepare(_ connection: SQLiteConnection, schema: StoreSchema) throws {
    try connection.execute(
      """
      CREATE TABLE IF NOT EXISTS \(migrationsTable) (
        version INTEGER PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      )
      """)
    try checkHistory(connection, schema: schema)
    try connection.immediateTransaction {
      for collection in schema.collections { try createCollection(collection, on: connection) }
    }
    for migration in schema.migrations { try apply(migration, on: connection, schema: schema) }
  }

  /// The versions and names recorded in the database, oldest first.
  static func appliedMigrations(_ connection: SQLiteConnection) throws(StoreError) -> [(version: Int, name: String)] {
    try connection.withStatement("SELECT version, name FROM \(migrationsTable) ORDER BY version") {
      statement throws(StoreError) in
      try statement.rows { (Int($0.int64(at: 0)), $0.text(at: 1) ?? "") }
    }
  }

  /// Refuses a database written by newer code, or one whose history disagrees with this code's.
  private static func checkHistory(_ connection: SQLiteConnection, schema: StoreSchema) throws(StoreError) {
    let applied = try appliedMigrations(connection)
    if let newest = applied.last?.version, newest > schema.latestVersion {
      throw StoreError.schemaTooNew(database: newest, supported: schema.latestVersion)
    }
    for record in applied {
      guard let migration = schema.migrations.first(where: { $0.version == record.version }) else {
        throw StoreError.invalidArgument(
          "the database has migration \(record.version) '\(record.name)', which this code does not declare")
      }
      guard migration.name == record.name else {
        throw StoreError.invalidArgument(
          "migration \(record.version) is '\(record.name)' in the database but '\(migration.name)' in the code")
      }
    }
  }

  /// Creates the table, adds generated columns for newly indexed fields, and makes the set of
  /// store-made indexes exactly the declared one. Columns of fields no longer indexed stay:
  /// they cost nothing (virtual), and queries only accept declared fields anyway.
  private static func createCollection(_ collection: CollectionSchema, on connection: SQLiteConnection) throws {
    try connection.execute(SQLiteSQL.createTable(collection.name))
    let table = SQLiteSQL.tableName(collection.name)
    // table_xinfo (not table_info) lists generated columns too.
    let columns = try connection.withStatement("SELECT name FROM pragma_table_xinfo(?)") {
      statement throws(StoreError) in
      try statement.bind([.string(table)])
      return Set(try statement.rows { ($0.text(at: 0) ?? "").lowercased() })
    }
    for field in collection.fields where !columns.contains(SQLiteSQL.columnName(field.name).lowercased()) {
      try connection.execute(SQLiteSQL.addColumn(collection.name, field.name))
    }
    let existing = try connection.withStatement(
      "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?"
    ) { statement throws(StoreError) in
      try statement.bind([.string(table)])
      return Set(try statement.rows { $0.text(at: 0) ?? "" })
    }
    let wanted = collection.indexes.map { SQLiteSQL.indexName(collection.name, $0) }
    for name in existing where name.hasPrefix(SQLiteSQL.indexPrefix) && !wanted.contains(name) {
      try connection.execute("DROP INDEX \(SQLiteSQL.quoted(name))")
    }
    for fields in collection.indexes where !existing.contains(SQLiteSQL.indexName(collection.name, fields)) {
      try connection.execute(SQLiteSQL.createIndex(collection.name, fields))
    }
  }

  private static func apply(_ migration: Migration, on connection: SQLiteConnection, schema: StoreSchema) throws {
    do {
      try connection.immediateTransaction {
        // Re-checked under the write lock: another process may have just applied it.
        let done = try connection.withStatement("SELECT 1 FROM \(migrationsTable) WHERE version = ?") {
          statement throws(StoreError) in
          try statement.bind([.integer(Int64(migration.version))])
          return try statement.step()
        }
        guard !done else { return }
        switch migration.step {
        case .sql(let sql):
          try connection.execute(sql)
        case .documents(let body):
          let documents = SQLiteDocuments(connection: connection, schema: schema)
          defer { documents.end() }
          try body(documents)
        }
        try connection.run(
          "INSERT INTO \(migrationsTable) (version, name) VALUES (?, ?)",
          [.integer(Int64(migration.version)), .string(migration.name)])
      }
    } catch {
      // A service's own error may describe data it was migrating; only store errors (which
      // never carry contents) are quoted.
      let reason = (error as? StoreError)?.description ?? "\(type(of: error)) was thrown"
      throw StoreError.migrationFailed(version: migration.version, name: migration.name, reason: reason)
    }
  }
}
