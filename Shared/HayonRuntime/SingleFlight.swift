/// At most one running operation per key: callers that ask while one runs share its result.
/// auth-service refreshes a Bluesky session once however many leases ask (refresh tokens rotate,
/// so two refreshes would race at the PDS); publish-service fetches an instance's limits once
/// however many posts need them.
public actor SingleFlight<Value: Sendable> {
  private var running: [String: Task<Value, any Error>] = [:]

  public init() {}

  public func run(_ key: String, _ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
    if let task = running[key] { return try await task.value }
    let task = Task { try await operation() }
    running[key] = task
    defer { running[key] = nil }
    return try await task.value
  }
}
