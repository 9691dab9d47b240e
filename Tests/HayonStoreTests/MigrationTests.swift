import Foundation
import Testing

@testable import HayonStore

@Suite("Migrations")
struct MigrationTests {
  static let baseMigrations: [Migration] = [
    Migration(1, "create audit table", sql: "CREATE TABLE audit (id INTEGER PRIMARY KEY, note TEXT NOT NULL)"),
    // Inserting (not putting) makes a second run fail loudly: the test would see it.
    Migration(2, "seed settings") { tx in
      try tx.insert("users", id: "system", json: #"{"email":"system@hayon.invalid"}"#)
    },
  ]

  static func schema(_ migrations: [Migration]) -> StoreSchema {
    StoreSchema(collections: Fixture.schema.collections, migrations: migrations)
  }

  @Test func migrationsRunOnceAndSurviveRestarts() async throws {
    try await withTemporaryDirectory { directory in
      let path = databasePath(in: directory)
      for _ in 0..<3 {
        let store = try await SQLiteStore(.file(path), schema: Self.schema(Self.baseMigrations))
        #expect(try await store.appliedMigrations() == [1, 2])
        #expect(try await store.get("users", id: "system")?.version == 1)
        await store.close()
      }
      // A new migration is applied on the next start, after the old ones.
      let more = Self.baseMigrations + [Migration(3, "add audit note") { tx in
        _ = try tx.patch("users", id: "system", set: ["note": "migrated"])
      }]
      let store = try await SQLiteStore(.file(path), schema: Self.schema(more))
      #expect(try await store.appliedMigrations() == [1, 2, 3])
      #expect(try await store.get("users", id: "system")?.version == 2)
      await store.close()
    }
  }

  @Test func aDatabaseFromNewerCodeIsRefused() async throws {
    try await withTemporaryDirectory { directory in
      let path = databasePath(in: directory)
      let newer = Self.baseMigrations + [Migration(3, "from the future", sql: "CREATE TABLE future (x)")]
      let store = try await SQLiteStore(.file(path), schema: Self.schema(newer))
      await store.close()
      await expectStoreError(.schemaTooNew(database: 3, supported: 2)) {
        try await SQLiteStore(.file(path), schema: Self.schema(Self.baseMigrations))
      }
    }
  }

  @Test func aFailingMigrationIsRolledBackAndRetriedOnTheNextStart() async throws {
    try await withTemporaryDirectory { directory in
      let path = databasePath(in: directory)
      let broken = Self.baseMigrations + [Migration(3, "backfill") { tx in
        try tx.insert("posts", id: "p1", json: "{}")
        throw StoreError.invalidArgument("deliberate failure")
      }]
      await expectStoreError(
        .migrationFailed(version: 3, name: "backfill", reason: "invalid argument: deliberate failure")
      ) {
        try await SQLiteStore(.file(path), schema: Self.schema(broken))
      }
      let fixed = Self.baseMigrations + [Migration(3, "backfill") { tx in
        try tx.insert("posts", id: "p2", json: "{}")
      }]
      let store = try await SQLiteStore(.file(path), schema: Self.schema(fixed))
      #expect(try await store.appliedMigrations() == [1, 2, 3])
      #expect(try await store.get("posts", id: "p1") == nil)
      #expect(try await store.get("posts", id: "p2") != nil)
      await store.close()
    }
  }

  @Test func aHistoryThatDisagreesWithTheCodeIsRefused() async throws {
    try await withTemporaryDirectory { directory in
      let path = databasePath(in: directory)
      let store = try await SQLiteStore(.file(path), schema: Self.schema(Self.baseMigrations))
      await store.close()
      let renamed = [Self.baseMigrations[0], Migration(2, "renamed", sql: "SELECT 1")]
      await expectStoreError(.invalidArgument("migration 2 is 'seed settings' in the database but 'renamed' in the code")) {
        try await SQLiteStore(.file(path), schema: Self.schema(renamed))
      }
      await expectStoreError(.invalidArgument("migration versions must start at 1 and strictly increase (1 after 2)")) {
        try await SQLiteStore(.file(path), schema: Self.schema(Self.baseMigrations.reversed()))
      }
    }
  }

  @Test func aNewlyIndexedFieldCoversExistingDocuments() async throws {
    try await withTemporaryDirectory { directory in
      let path = databasePath(in: directory)
      let before = StoreSchema(collections: [CollectionSchema("posts")])
      let store = try await SQLiteStore(.file(path), schema: before)
      for number in 0..<20 {
        try await store.insert("posts", id: "p\(number)", json: #"{"userId":"u\#(number % 2)"}"#)
      }
      await expectStoreError(.invalidArgument("'userId' is not an indexed field of 'posts'")) {
        try await store.query("posts", where: [Field("userId") == "u1"])
      }
      await store.close()

      let after = StoreSchema(collections: [CollectionSchema("posts", indexing: [.string("userId")])])
      let reopened = try await SQLiteStore(.file(path), schema: after)
      #expect(try await reopened.query("posts", where: [Field("userId") == "u1"]).items.count == 10)
      await reopened.close()
      // And back: the index goes, the data stays.
      let again = try await SQLiteStore(.file(path), schema: before)
      #expect(try await again.query("posts", limit: 100).items.count == 20)
      await again.close()
    }
  }
}
