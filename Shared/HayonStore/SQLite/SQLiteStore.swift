/// The embedded `DocumentStore`: one SQLite database file per service, in WAL mode.
///
/// Two connections, each owned by an actor running on its own dispatch queue (see
/// `SQLiteConnectionOwner`): a writer that runs every transaction and write, one at a time, and
/// a read-only reader for `get` and `query`. WAL lets the reader see the last committed state
/// while a write transaction is open, so reads never queue behind a long write. Writes from
/// other processes on the same file wait up to `busyTimeout` for the write lock.
/// An in-memory database has a single connection (a second one would see another database).
public final class SQLiteStore: DocumentStore {
  public struct Configuration: Sendable, Hashable {
    public enum Location: Sendable, Hashable {
      /// A database file; its directory must exist. WAL adds `-wal` and `-shm` files beside it.
      case file(String)
      /// A private database that disappears when the store closes; for tests.
      case inMemory
    }

    public var location: Location
    /// How long a write waits for another connection's write lock before failing with `busy`.
    public var busyTimeout: Duration
    /// Serve reads from a second, read-only connection (file databases only).
    public var usesReadConnection: Bool

    public init(location: Location, busyTimeout: Duration = .seconds(5), usesReadConnection: Bool = true) {
      self.location = location
      self.busyTimeout = busyTimeout
      self.usesReadConnection = usesReadConnection
    }

    public static func file(_ path: String) -> Configuration { Configuration(location: .file(path)) }
    public static var inMemory: Configuration { Configuration(location: .inMemory) }
  }

  public let configuration: Configuration
  public let schema: StoreSchema
  private let writer: SQLiteConnectionOwner
  /// `nil` when reads share the writer.
  private let reader: SQLiteConnectionOwner?

  /// Opens (creating if needed) the database, sets it up (WAL, `synchronous=NORMAL`, foreign
  /// keys, busy timeout), creates the declared collections and applies pending migrations.
  public init(_ configuration: Configuration, schema: StoreSchema) async throws {
    try schema.validate()
    self.configuration = configuration
    self.schema = schema
    let path: String
    switch configuration.location {
    case .file(let file): path = file
    case .inMemory: path = ":memory:"
    }
    let writer = try SQLiteConnectionOwner(
      label: "hayon.store.writer", path: path, readOnly: false, busyTimeout: configuration.busyTimeout)
    do {
      try await writer.withConnection { connection in
        try Self.configureWriter(connection, inMemory: configuration.location == .inMemory)
        try SQLiteSchemaSetup.prepare(connection, schema: schema)
      }
      // Opened after the writer has switched the file to WAL, which a read-only connection cannot do.
      if configuration.usesReadConnection, configuration.location != .inMemory {
        reader = try SQLiteConnectionOwner(
          label: "hayon.store.reader", path: path, readOnly: true, busyTimeout: configuration.busyTimeout)
      } else {
        reader = nil
      }
    } catch {
      await writer.close()
      throw error
    }
    self.writer = writer
  }

  private static func configureWriter(_ connection: SQLiteConnection, inMemory: Bool) throws(StoreError) {
    let mode = try connection.withStatement("PRAGMA journal_mode = WAL") { statement throws(StoreError) in
      _ = try statement.step()
      return statement.text(at: 0) ?? ""
    }
    // In-memory databases have no journal file and report "memory".
    guard mode.lowercased() == "wal" || inMemory else {
      throw StoreError.io("the database refused WAL journal mode (it reports '\(mode)')")
    }
    // NORMAL is durable against application crashes in WAL mode; a power loss can only lose the
    // last transactions, never corrupt the file.
    try connection.execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
  }

  // MARK: - DocumentStore

  public func get(_ collection: String, id: String) async throws -> Document? {
    try await read { try $0.get(collection, id: id) }
  }

  public func query(_ collection: String, _ query: Query) async throws -> Page<Document> {
    try await read { try $0.query(collection, query) }
  }

  public func transaction<Result: Sendable>(
    _ body: sending (any DocumentTransaction) throws -> Result
  ) async throws -> Result {
    let schema = schema
    return try await writer.withConnection { connection in
      try connection.immediateTransaction {
        let documents = SQLiteDocuments(connection: connection, schema: schema)
        defer { documents.end() }
        return try body(documents)
      }
    }
  }

  public func close() async {
    await reader?.close()
    await writer.close()
  }

  /// Runs a read on the reader, outside any transaction: each statement sees the last commit.
  private func read<Result: Sendable>(
    _ body: sending @escaping (SQLiteDocuments) throws -> Result
  ) async throws -> Result {
    let schema = schema
    return try await (reader ?? writer).withConnection { connection in
      let documents = SQLiteDocuments(connection: connection, schema: schema)
      defer { documents.end() }
      return try body(documents)
    }
  }

  // MARK: - Introspection (tests and diagnostics)

  /// The value of a read-only pragma on the writer, e.g. `journal_mode`.
  func pragma(_ name: String) async throws -> String {
    try StoreName.validateCollection(name)  // pragma names fit the same alphabet; it is inlined
    return try await writer.withConnection { connection in
      try connection.withStatement("PRAGMA \(name)") { statement throws(StoreError) in
        _ = try statement.step()
        return statement.text(at: 0) ?? ""
      }
    }
  }

  /// SQLite's plan for a query (the `detail` column of EXPLAIN QUERY PLAN), to check it is
  /// served by an index.
  func queryPlan(_ collection: String, _ query: Query) async throws -> [String] {
    guard let schema = schema.collection(named: collection) else { throw StoreError.unknownCollection(collection) }
    let select = try SQLiteSelect(collection: schema, query: query, rowLimit: query.limit + 1)
    return try await writer.withConnection { connection in
      try connection.withStatement("EXPLAIN QUERY PLAN " + select.sql) { statement throws(StoreError) in
        try statement.bind(select.bindings)
        return try statement.rows { $0.text(at: 3) ?? "" }
      }
    }
  }

  /// The migrations recorded in the database, oldest first.
  func appliedMigrations() async throws -> [Int] {
    try await writer.withConnection { connection in
      try SQLiteSchemaSetup.appliedMigrations(connection).map(\.version)
    }
  }
}
