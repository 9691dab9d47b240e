/// At most one running operation per key: callers that ask while one runs share its result.
/// Bluesky refresh tokens rotate, so two concurrent refreshes of one account would race each
/// other at the PDS; this makes them one. (Across replicas, the vault's version check settles it.)
actor SingleFlight<Value: Sendable> {
  private var running: [String: Task<Value, any Error>] = [:]

  func run(_ key: String, _ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
    if let task = running[key] { return try await task.value }
    let task = Task { try await operation() }
    running[key] = task
    defer { running[key] = nil }
    return try await task.value
  }
}
