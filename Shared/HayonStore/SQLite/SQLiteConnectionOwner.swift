import Dispatch

/// Runs an actor's jobs on a private serial dispatch queue rather than on Swift's cooperative
/// pool. SQLite calls block — on disk I/O, and for up to the busy timeout while another process
/// holds the write lock — and the cooperative pool has only one thread per core, so blocking it
/// would stall every other task in the service.
final class SerialQueueExecutor: SerialExecutor {
  private let queue: DispatchQueue

  init(label: String) { queue = DispatchQueue(label: label) }

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    let executor = asUnownedSerialExecutor()
    queue.async { job.runSynchronously(on: executor) }
  }

  func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }
}

/// The single owner of one `SQLiteConnection`: every use of the connection is a call into this
/// actor, so calls are serialized and the non-`Sendable` handle never leaves it.
actor SQLiteConnectionOwner {
  private let executor: SerialQueueExecutor
  private var connection: SQLiteConnection?

  nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

  init(label: String, path: String, readOnly: Bool, busyTimeout: Duration) throws(StoreError) {
    executor = SerialQueueExecutor(label: label)
    connection = try SQLiteConnection(path: path, readOnly: readOnly, busyTimeout: busyTimeout)
  }

  /// Runs `body` with the connection, on this actor's queue.
  func withConnection<Result: Sendable>(
    _ body: sending (SQLiteConnection) throws -> Result
  ) throws -> Result {
    guard let connection, connection.isOpen else { throw StoreError.closed }
    return try body(connection)
  }

  func close() {
    connection?.close()
    connection = nil
  }
}
