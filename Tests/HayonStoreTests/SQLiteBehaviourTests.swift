import Foundation
import Testing

@testable import HayonStore

@Suite("SQLite behaviour")
struct SQLiteBehaviourTests {
  @Test func theDatabaseRunsInWALModeWithTheDocumentedSettings() async throws {
    try await withStore { store, directory in
      #expect(try await store.pragma("journal_mode") == "wal")
      #expect(try await store.pragma("synchronous") == "1")  // NORMAL
      #expect(try await store.pragma("foreign_keys") == "1")
      #expect(try await store.pragma("busy_timeout") == "5000")
      try await store.put("users", id: "u1", json: "{}")
      #expect(FileManager.default.fileExists(atPath: databasePath(in: directory) + "-wal"))
    }
  }

  @Test func dataSurvivesReopening() async throws {
    try await withTemporaryDirectory { directory in
      let path = databasePath(in: directory)
      let store = try await SQLiteStore(.file(path), schema: Fixture.schema)
      try await store.insert(Target(userId: "u1", status: "scheduled", dueAt: Fixture.epoch), into: "targets", id: "t1")
      try await store.patch("targets", id: "t1", set: ["status": "published"])
      await store.close()

      let reopened = try await SQLiteStore(.file(path), schema: Fixture.schema)
      let target = try #require(try await reopened.get(Target.self, from: "targets", id: "t1"))
      #expect(target.version == 2 && target.value.status == "published" && target.value.dueAt == Fixture.epoch)
      await reopened.close()
    }
  }

  @Test func aClosedStoreRefusesCalls() async throws {
    let store = try await SQLiteStore(.inMemory, schema: Fixture.schema)
    await store.close()
    await expectStoreError(.closed) { try await store.get("users", id: "u1") }
    await expectStoreError(.closed) { try await store.put("users", id: "u1", json: "{}") }
  }

  /// While one connection holds a long write transaction, readers (on the same store and on
  /// another one) see the last commit without waiting, and a second writer waits its turn.
  @Test func readersAndWritersGetThroughALongWriteTransaction() async throws {
    try await withTemporaryDirectory { directory in
      let path = databasePath(in: directory)
      let holder = try await SQLiteStore(.file(path), schema: Fixture.schema)
      let other = try await SQLiteStore(.file(path), schema: Fixture.schema)
      try await holder.put("users", id: "u1", json: #"{"email":"committed"}"#)

      let started = Signal()
      let readsDone = Signal()
      let finished = Signal()
      // The writer holds its lock until the test's reads are done. Reads that waited for the
      // writer would keep it holding until the 10 s give-up, and the test would see that.
      async let longWrite: Bool = holder.transaction { tx in
        try tx.put("users", id: "u1", json: #"{"email":"uncommitted"}"#)
        started.raise()
        let readersGotThrough = readsDone.blockingWait(timeout: .seconds(10))
        finished.raise()
        return readersGotThrough
      }
      try await started.wait()

      // Reads: served at once from the last commit, by both stores.
      #expect(try await holder.get("users", id: "u1")?.json == #"{"email":"committed"}"#)
      #expect(try await other.get("users", id: "u1")?.json == #"{"email":"committed"}"#)
      #expect(try await other.query("users").items.count == 1)
      #expect(!finished.isRaised, "the reads should not have waited for the writer")

      // A write from another connection waits for the lock (busy timeout), then succeeds. The
      // pause only gives it the chance to hit the lock; the ordering check holds either way.
      async let secondWrite = other.put("users", id: "u2", json: #"{"email":"second writer"}"#)
      try await Task.sleep(for: .milliseconds(50))
      readsDone.raise()
      _ = try await secondWrite
      #expect(finished.isRaised, "the second writer got in while the first held the lock")
      #expect(try await longWrite, "the reads should not have waited for the writer")
      #expect(try await other.get("users", id: "u1")?.json == #"{"email":"uncommitted"}"#)
      await holder.close()
      await other.close()
    }
  }

  @Test func aWriterThatWaitsLongerThanTheBusyTimeoutGetsBusy() async throws {
    try await withTemporaryDirectory { directory in
      let path = databasePath(in: directory)
      let holder = try await SQLiteStore(.file(path), schema: Fixture.schema)
      var impatientConfiguration = SQLiteStore.Configuration.file(path)
      impatientConfiguration.busyTimeout = .milliseconds(50)
      let impatient = try await SQLiteStore(impatientConfiguration, schema: Fixture.schema)

      let started = Signal()
      async let longWrite: Void = holder.transaction { tx in
        try tx.put("users", id: "u1", json: "{}")
        started.raise()
        Thread.sleep(forTimeInterval: 0.5)
      }
      try await started.wait()
      await expectStoreError(.busy) { try await impatient.put("users", id: "u2", json: "{}") }
      try await longWrite
      #expect(try await impatient.get("users", id: "u2") == nil)
      await holder.close()
      await impatient.close()
    }
  }
}
