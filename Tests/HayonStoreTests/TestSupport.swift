import Foundation
import Synchronization
import Testing

@testable import HayonStore

/// A target as publish-service will store it: the scheduler's view of one post on one platform.
struct Target: Codable, Sendable, Hashable {
  var userId: String
  var status: String
  var dueAt: Date
  var priority: Int?
  var pinned: Bool = false
  var claimedBy: String?
  var secret: String = "not-for-logs"
}

enum Fixture {
  static let targets = CollectionSchema(
    "targets",
    indexing: [.string("userId"), .string("status"), .date("dueAt"), .integer("priority"), .bool("pinned")],
    compoundIndexes: [["status", "dueAt"]])
  static let users = CollectionSchema("users", indexing: [.string("email")])
  static let posts = CollectionSchema("posts", indexing: [.string("userId")])
  static let schema = StoreSchema(collections: [targets, users, posts])

  /// A fixed instant, so tests never depend on the clock.
  static let epoch = Date(timeIntervalSince1970: 1_700_000_000)
}

/// A fresh directory, removed afterwards whatever happens.
func withTemporaryDirectory<Result>(_ body: (URL) async throws -> Result) async throws -> Result {
  let directory = FileManager.default.temporaryDirectory
    .appendingPathComponent("hayon-store-tests-\(UUID().uuidString)", isDirectory: true)
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: directory) }
  return try await body(directory)
}

/// A file-backed store in a fresh directory, closed and removed afterwards.
func withStore<Result>(
  schema: StoreSchema = Fixture.schema, _ body: (SQLiteStore, URL) async throws -> Result
) async throws -> Result {
  try await withTemporaryDirectory { directory in
    let store = try await SQLiteStore(.file(databasePath(in: directory)), schema: schema)
    do {
      let result = try await body(store, directory)
      await store.close()
      return result
    } catch {
      await store.close()
      throw error
    }
  }
}

func databasePath(in directory: URL) -> String { directory.appendingPathComponent("test.sqlite").path }

/// Expects `body` to throw exactly `expected`.
func expectStoreError<Result>(
  _ expected: StoreError, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () async throws -> Result
) async {
  do {
    _ = try await body()
    Issue.record("expected \(expected), but nothing was thrown", sourceLocation: sourceLocation)
  } catch let error as StoreError {
    #expect(error == expected, sourceLocation: sourceLocation)
  } catch {
    Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
  }
}

/// A one-way signal between a blocking transaction body and the test's task.
final class Signal: Sendable {
  private let raised = Mutex(false)

  func raise() { raised.withLock { $0 = true } }
  var isRaised: Bool { raised.withLock { $0 } }

  /// Polls, since the raiser is a synchronous closure on the store's own thread.
  func wait() async throws {
    while !isRaised { try await Task.sleep(for: .milliseconds(2)) }
  }

  /// For the store's own thread, which must not suspend: true once raised, false if `timeout`
  /// passed first.
  func blockingWait(timeout: Duration) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !isRaised {
      if ContinuousClock.now >= deadline { return false }
      Thread.sleep(forTimeInterval: 0.001)
    }
    return true
  }
}
