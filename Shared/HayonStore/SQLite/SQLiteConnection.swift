import CSQLite

/// One SQLite connection and its cache of prepared statements: the only code that touches
/// `sqlite3*`/`sqlite3_stmt*`.
///
/// Not `Sendable`, on purpose: an SQLite handle must never be used by two threads at once (it
/// is opened with `SQLITE_OPEN_NOMUTEX`, so SQLite does not lock it either). Each connection is
/// owned by exactly one `SQLiteConnectionOwner` actor, and only that actor's serial executor
/// calls into it; the compiler enforces that it never escapes.
final class SQLiteConnection {
  private var handle: OpaquePointer?
  /// Prepared statements by SQL text, reused across calls (`SQLITE_PREPARE_PERSISTENT`).
  private var statements: [String: OpaquePointer] = [:]

  /// Query shapes are built from code, so this bounds memory only against a runaway caller.
  private static let statementCacheLimit = 256

  /// Opens `path` (`:memory:` for a private in-memory database).
  init(path: String, readOnly: Bool, busyTimeout: Duration) throws(StoreError) {
    var handle: OpaquePointer?
    let flags =
      (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
    let code = sqlite3_open_v2(path, &handle, flags, nil)
    guard code == SQLITE_OK, let handle else {
      let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
      sqlite3_close_v2(handle)
      throw Self.storeError(code: code, message: message, context: "opening the database")
    }
    self.handle = handle
    sqlite3_extended_result_codes(handle, 1)
    let (seconds, attoseconds) = busyTimeout.components
    sqlite3_busy_timeout(handle, Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000))
  }

  deinit { close() }

  var isOpen: Bool { handle != nil }

  func close() {
    for statement in statements.values { sqlite3_finalize(statement) }
    statements.removeAll()
    // `_v2` defers the close if anything is still outstanding instead of failing.
    if let handle { sqlite3_close_v2(handle) }
    handle = nil
  }

  /// Runs SQL text without parameters, possibly several statements (schema DDL, migrations).
  func execute(_ sql: String) throws(StoreError) {
    let handle = try openHandle()
    var message: UnsafeMutablePointer<CChar>?
    let code = sqlite3_exec(handle, sql, nil, nil, &message)
    guard code == SQLITE_OK else {
      let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
      sqlite3_free(message)
      throw Self.storeError(code: code, message: text, context: "executing SQL")
    }
  }

  /// Runs `body` with the cached statement for `sql`, reset and unbound afterwards.
  /// Bodies must not run the same SQL again before returning (no nesting of one statement).
  func withStatement<Result>(
    _ sql: String, _ body: (SQLiteStatement) throws(StoreError) -> Result
  ) throws(StoreError) -> Result {
    let statement = try prepared(sql)
    defer {
      sqlite3_reset(statement)
      sqlite3_clear_bindings(statement)
    }
    return try body(SQLiteStatement(handle: statement, connection: self))
  }

  /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back if it throws.
  ///
  /// IMMEDIATE takes the write lock up front (waiting up to the busy timeout). A deferred
  /// transaction that reads and then writes fails outright with `SQLITE_BUSY_SNAPSHOT` in WAL mode
  /// when another connection committed in between, which the busy timeout cannot help with.
  func immediateTransaction<Result>(_ body: () throws -> Result) throws -> Result {
    try run("BEGIN IMMEDIATE")
    do {
      let result = try body()
      try run("COMMIT")
      return result
    } catch {
      // SQLite may already have rolled back by itself (e.g. disk full); then there is nothing to do.
      if let handle, sqlite3_get_autocommit(handle) == 0 { try? run("ROLLBACK") }
      throw error
    }
  }

  /// Runs one statement that returns no rows.
  func run(_ sql: String, _ bindings: [StoreValue] = []) throws(StoreError) {
    try withStatement(sql) { statement throws(StoreError) in
      try statement.bind(bindings)
      while try statement.step() {}
    }
  }

  /// Whether the last failure was a primary-key clash (an insert of an existing id).
  var lastErrorIsDuplicateKey: Bool {
    // SQLITE_CONSTRAINT_PRIMARYKEY is a macro expression Swift does not import.
    handle.map { sqlite3_extended_errcode($0) == SQLITE_CONSTRAINT | (6 << 8) } ?? false
  }

  /// Rows changed by the last INSERT, UPDATE or DELETE.
  var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }

  /// The error for a failed call, with SQLite's message read right away (it is per connection
  /// and the next call overwrites it).
  func error(code: Int32, context: String) -> StoreError {
    let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
    return Self.storeError(code: code, message: message, context: context)
  }

  /// SQLite's messages name tables, columns and constraints, never bound values, so they are
  /// safe to carry in a `StoreError`.
  static func storeError(code: Int32, message: String, context: String) -> StoreError {
    switch code & 0xFF {
    case SQLITE_BUSY, SQLITE_LOCKED: .busy
    case SQLITE_CORRUPT, SQLITE_NOTADB: .corrupt("\(context): \(message)")
    default: .io("\(context): \(message) (SQLite code \(code))")
    }
  }

  private func openHandle() throws(StoreError) -> OpaquePointer {
    guard let handle else { throw StoreError.closed }
    return handle
  }

  private func prepared(_ sql: String) throws(StoreError) -> OpaquePointer {
    if let statement = statements[sql] { return statement }
    let handle = try openHandle()
    if statements.count >= Self.statementCacheLimit {
      for statement in statements.values { sqlite3_finalize(statement) }
      statements.removeAll()
    }
    var statement: OpaquePointer?
    let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
    guard code == SQLITE_OK, let statement else {
      throw error(code: code, context: "preparing a statement")
    }
    statements[sql] = statement
    return statement
  }
}

/// A prepared statement borrowed from its connection's cache for the duration of one call.
struct SQLiteStatement {
  let handle: OpaquePointer
  let connection: SQLiteConnection

  /// Binds `values` to parameters 1, 2, 3…
  func bind(_ values: [StoreValue]) throws(StoreError) {
    for (offset, value) in values.enumerated() {
      try bind(value, at: Int32(offset + 1))
    }
  }

  func bind(_ value: StoreValue, at index: Int32) throws(StoreError) {
    let code: Int32
    switch value {
    case .null: code = sqlite3_bind_null(handle, index)
    case .bool(let value): code = sqlite3_bind_int64(handle, index, value ? 1 : 0)
    case .integer(let value): code = sqlite3_bind_int64(handle, index, value)
    case .double(let value): code = sqlite3_bind_double(handle, index, value)
    case .string(var text):
      // An explicit length, so text containing NUL is stored whole rather than cut short.
      code = text.withUTF8 { bytes in
        guard let base = bytes.baseAddress, !bytes.isEmpty else {
          // A nil pointer would bind NULL, not the empty string.
          return sqlite3_bind_text64(handle, index, "", 0, hayon_sqlite_transient(), UInt8(SQLITE_UTF8))
        }
        return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { start in
          sqlite3_bind_text64(
            handle, index, start, UInt64(bytes.count), hayon_sqlite_transient(), UInt8(SQLITE_UTF8))
        }
      }
    }
    guard code == SQLITE_OK else { throw connection.error(code: code, context: "binding a value") }
  }

  /// Advances to the next row: `true` if there is one, `false` when done.
  func step() throws(StoreError) -> Bool {
    let code = sqlite3_step(handle)
    switch code {
    case SQLITE_ROW: return true
    case SQLITE_DONE: return false
    default: throw connection.error(code: code, context: "running a statement")
    }
  }

  /// Every remaining row, read by `read`.
  func rows<Row>(_ read: (SQLiteStatement) -> Row) throws(StoreError) -> [Row] {
    var rows: [Row] = []
    while try step() { rows.append(read(self)) }
    return rows
  }

  func isNull(at column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

  func int64(at column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

  func text(at column: Int32) -> String? {
    guard let bytes = sqlite3_column_text(handle, column) else { return nil }
    let count = Int(sqlite3_column_bytes(handle, column))
    return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
  }

  func value(at column: Int32) -> StoreValue {
    switch sqlite3_column_type(handle, column) {
    case SQLITE_INTEGER: .integer(sqlite3_column_int64(handle, column))
    case SQLITE_FLOAT: .double(sqlite3_column_double(handle, column))
    case SQLITE_NULL: .null
    default: text(at: column).map(StoreValue.string) ?? .null
    }
  }
}
