/// The SQL shapes of the document tables. Each collection is a table `docs_<name>` of
/// `(id TEXT PRIMARY KEY, version INTEGER, doc TEXT)`; each indexed field is a virtual generated
/// column `f_<field> = json_extract(doc, '$.<field>')`, indexed together with `id` so that
/// "filter, order by field, then id" is answered from the index alone.
///
/// Identifiers are built only from names `StoreName` validated, and quoted; every value is a
/// bound parameter.
enum SQLiteSQL {
  static let tablePrefix = "docs_"
  static let indexPrefix = "ix_"

  static func tableName(_ collection: String) -> String { tablePrefix + collection }
  static func table(_ collection: String) -> String { quoted(tableName(collection)) }
  static func columnName(_ field: String) -> String { "f_" + field }

  static func column(_ field: String) -> String {
    field == DocumentKey.idField ? "id" : quoted(columnName(field))
  }

  static func indexName(_ collection: String, _ fields: [String]) -> String {
    indexPrefix + collection + "__" + fields.joined(separator: "__")
  }

  /// A JSON path literal for a field; safe to inline because field names are validated.
  static func jsonPath(_ field: String) -> String { "'$.\(field)'" }

  static func createTable(_ collection: String) -> String {
    """
    CREATE TABLE IF NOT EXISTS \(table(collection)) (
      id TEXT PRIMARY KEY NOT NULL,
      version INTEGER NOT NULL,
      doc TEXT NOT NULL
    )
    """
  }

  static func addColumn(_ collection: String, _ field: String) -> String {
    "ALTER TABLE \(table(collection)) ADD COLUMN \(column(field)) "
      + "GENERATED ALWAYS AS (json_extract(doc, \(jsonPath(field)))) VIRTUAL"
  }

  static func createIndex(_ collection: String, _ fields: [String]) -> String {
    let columns = (fields.map(column) + ["id"]).joined(separator: ", ")
    return "CREATE INDEX IF NOT EXISTS \(quoted(indexName(collection, fields))) ON \(table(collection)) (\(columns))"
  }

  static func quoted(_ identifier: String) -> String { "\"\(identifier)\"" }
}

extension FieldType {
  /// Whether a query value (or cursor value) can be compared with this field.
  func accepts(_ value: StoreValue) -> Bool {
    switch (self, value) {
    case (_, .null), (.string, .string), (.integer, .integer), (.bool, .bool),
      (.double, .integer), (.double, .double), (.date, .integer), (.date, .double):
      true
    default:
      false
    }
  }

  /// What `json_type` may say about this field in a stored document (besides null or missing).
  var jsonTypes: Set<String> {
    switch self {
    case .string: ["text"]
    case .integer: ["integer"]
    case .double, .date: ["integer", "real"]
    case .bool: ["true", "false"]
    }
  }

  var expectation: String {
    switch self {
    case .string: "a string"
    case .integer: "an integer"
    case .double: "a number"
    case .date: "a date (a number)"
    case .bool: "a boolean"
    }
  }
}

/// A field a query may name: a declared indexed field, or the document id.
struct ResolvedField {
  let name: String
  let type: FieldType
  var column: String { SQLiteSQL.column(name) }

  static func resolve(_ name: String, in collection: CollectionSchema) throws(StoreError) -> ResolvedField {
    if name == DocumentKey.idField { return ResolvedField(name: name, type: .string) }
    guard let field = collection.field(named: name) else {
      try StoreName.validateField(name)
      throw StoreError.invalidArgument("'\(name)' is not an indexed field of '\(collection.name)'")
    }
    return ResolvedField(name: name, type: field.type)
  }

  /// Reads this field's sort column back as the value a cursor stores.
  func cursorValue(_ raw: StoreValue) -> StoreValue {
    if type == .bool, case .integer(let number) = raw { return .bool(number != 0) }
    return raw
  }
}

/// A `Query` compiled to one SELECT over a collection's table:
/// `SELECT id, version, doc, <sort columns> … WHERE … ORDER BY …, id LIMIT ?`.
struct SQLiteSelect {
  /// The result columns before the sort columns.
  static let documentColumns: Int32 = 3

  let sql: String
  let bindings: [StoreValue]
  /// The ordering's fields other than `id`, in result-column order after the document columns.
  let sortFields: [ResolvedField]
  /// The ordering, rendered for cursors (`dueAt:asc,id:asc`).
  let ordering: String

  /// - Parameter rowLimit: how many rows to fetch (a query asks for one more than its page, to
  ///   know whether there is a next page).
  init(collection: CollectionSchema, query: Query, rowLimit: Int) throws(StoreError) {
    var clauses: [String] = []
    var bindings: [StoreValue] = []

    for condition in query.conditions {
      let field = try ResolvedField.resolve(condition.field, in: collection)
      try Self.check(condition.value, for: field, comparison: condition.comparison)
      switch (condition.comparison, condition.value) {
      case (.equal, .null): clauses.append("\(field.column) IS NULL")
      case (.notEqual, .null): clauses.append("\(field.column) IS NOT NULL")
      // IS NOT, so documents without the field count as "not equal" rather than vanishing.
      case (.notEqual, let value):
        clauses.append("\(field.column) IS NOT ?")
        bindings.append(value)
      case (let comparison, let value):
        clauses.append("\(field.column) \(Self.sqlOperator(comparison)) ?")
        bindings.append(value)
      }
    }

    // The ordering, made total by the id (in the direction of the last key, so an index on
    // (field, id) serves it in one scan).
    var keys: [(field: ResolvedField, direction: SortKey.Direction)] = []
    for key in query.order {
      let field = try ResolvedField.resolve(key.field, in: collection)
      guard !keys.contains(where: { $0.field.name == field.name }) else {
        throw StoreError.invalidArgument("'\(field.name)' appears twice in the ordering")
      }
      guard keys.last?.field.name != DocumentKey.idField else {
        throw StoreError.invalidArgument("'id' must be the last key of an ordering")
      }
      keys.append((field, key.direction))
    }
    if keys.last?.field.name != DocumentKey.idField {
      keys.append((ResolvedField(name: DocumentKey.idField, type: .string), keys.last?.direction ?? .ascending))
    }
    let ordering = keys.map { "\($0.field.name):\($0.direction.rawValue)" }.joined(separator: ",")
    let sortFields = keys.dropLast().map(\.field)

    if let cursor = query.after {
      let position = try cursor.position()
      guard position.ordering == ordering, position.values.count == sortFields.count else {
        throw StoreError.invalidArgument("the page cursor belongs to a query with a different ordering")
      }
      for (field, value) in zip(sortFields, position.values) where !field.type.accepts(value) {
        throw StoreError.invalidArgument("malformed page cursor")
      }
      let values = position.values + [.string(position.id)]
      clauses.append(Self.after(keys: keys, values: values, bindings: &bindings))
    }

    var sql = "SELECT id, version, doc"
    for field in sortFields { sql += ", \(field.column)" }
    sql += " FROM \(SQLiteSQL.table(collection.name))"
    if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
    sql += " ORDER BY " + keys.map { "\($0.field.column) \($0.direction == .ascending ? "ASC" : "DESC")" }
      .joined(separator: ", ")
    sql += " LIMIT ?"
    bindings.append(.integer(Int64(rowLimit)))

    self.sql = sql
    self.bindings = bindings
    self.sortFields = sortFields
    self.ordering = ordering
  }

  /// The keyset condition "comes strictly after `values` in this ordering": for some key i, all
  /// keys before i are equal and key i is past its value. Nulls sort lowest (SQLite's order).
  private static func after(
    keys: [(field: ResolvedField, direction: SortKey.Direction)], values: [StoreValue],
    bindings: inout [StoreValue]
  ) -> String {
    var disjuncts: [String] = []
    var disjunctBindings: [StoreValue] = []
    var equalities: [String] = []
    var equalityBindings: [StoreValue] = []
    for (key, value) in zip(keys, values) {
      let column = key.field.column
      let beyond: (sql: String, bindings: [StoreValue])?
      switch (key.direction, value) {
      case (.ascending, .null): beyond = ("\(column) IS NOT NULL", [])
      case (.ascending, let value): beyond = ("\(column) > ?", [value])
      case (.descending, .null): beyond = nil  // nothing sorts below null
      case (.descending, let value): beyond = ("(\(column) < ? OR \(column) IS NULL)", [value])
      }
      if let beyond {
        disjuncts.append("(" + (equalities + [beyond.sql]).joined(separator: " AND ") + ")")
        disjunctBindings += equalityBindings + beyond.bindings
      }
      if value.isNull {
        equalities.append("\(column) IS NULL")
      } else {
        equalities.append("\(column) = ?")
        equalityBindings.append(value)
      }
    }
    let disjunction = disjuncts.isEmpty ? "0" : "(" + disjuncts.joined(separator: " OR ") + ")"
    // Redundant with the disjunction but sargable, so the index scan starts at the cursor
    // instead of walking (and filtering) every earlier row.
    if let first = keys.first, first.direction == .ascending, let value = values.first, !value.isNull {
      bindings += [value] + disjunctBindings
      return "\(first.field.column) >= ? AND \(disjunction)"
    }
    bindings += disjunctBindings
    return disjunction
  }

  private static func sqlOperator(_ comparison: Condition.Comparison) -> String {
    switch comparison {
    case .equal: "="
    case .notEqual: "IS NOT"
    case .less: "<"
    case .lessOrEqual: "<="
    case .greater: ">"
    case .greaterOrEqual: ">="
    }
  }

  static func check(
    _ value: StoreValue, for field: ResolvedField, comparison: Condition.Comparison
  ) throws(StoreError) {
    if value.isNull, comparison != .equal, comparison != .notEqual {
      throw StoreError.invalidArgument("'\(field.name)' can only be compared with null by == or !=")
    }
    if case .double(let number) = value, !number.isFinite {
      throw StoreError.invalidArgument("'\(field.name)' cannot be compared with a non-finite number")
    }
    guard field.type.accepts(value) else {
      throw StoreError.invalidArgument("'\(field.name)' is \(field.type.expectation)")
    }
  }
}
