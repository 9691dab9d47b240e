import Foundation
import Testing

@testable import HayonStore

@Suite("Documents")
struct DocumentTests {
  @Test func rawCRUDKeepsVersions() async throws {
    try await withStore { store, _ in
      let created = try await store.insert("users", id: "u1", json: #"{"email":"a@example.com"}"#)
      #expect(created.version == 1)
      #expect(try await store.get("users", id: "u1") == created)

      let replaced = try await store.put("users", id: "u1", json: #"{"email":"b@example.com"}"#)
      #expect(replaced.version == 2)
      #expect(try await store.get("users", id: "u1")?.json == #"{"email":"b@example.com"}"#)

      #expect(try await store.put("users", id: "u2", json: "{}").version == 1)
      #expect(try await store.delete("users", id: "u1"))
      #expect(try await store.get("users", id: "u1") == nil)
      #expect(try await !store.delete("users", id: "u1"))
      #expect(try await store.get("users", id: "u2") != nil)
    }
  }

  struct Profile: Codable, Sendable, Equatable {
    struct Link: Codable, Sendable, Equatable {
      var platform: String
      var handle: String?
    }
    var email: String
    var displayName: String
    var age: Int
    var score: Double
    var verified: Bool
    var createdAt: Date
    var links: [Link]
    var note: String?
  }

  static let profile = Profile(
    email: "ada@example.com", displayName: "Ada \u{1F680} \"quoted\" \\ back\u{0}slash", age: 36,
    score: 0.1 + 0.2, verified: true, createdAt: Date(timeIntervalSinceReferenceDate: 722_222_222.123_456),
    links: [.init(platform: "bluesky", handle: "ada.bsky.social"), .init(platform: "mastodon", handle: nil)],
    note: nil)

  @Test(arguments: [true, false])
  func typedValuesRoundTrip(inMemory: Bool) async throws {
    try await withTemporaryDirectory { directory in
      let configuration: SQLiteStore.Configuration = inMemory ? .inMemory : .file(databasePath(in: directory))
      let store = try await SQLiteStore(configuration, schema: Fixture.schema)
      let stored = try await store.insert(Self.profile, into: "users", id: "ada")
      #expect(stored.version == 1)
      let read = try await store.get(Profile.self, from: "users", id: "ada")
      #expect(read == Stored(id: "ada", version: 1, value: Self.profile))

      var changed = try #require(read)
      changed.value.age += 1
      let written = try await store.update(changed, in: "users")
      #expect(written.version == 2)
      #expect(try await store.get(Profile.self, from: "users", id: "ada")?.value.age == 37)
      #expect(try await store.get(Profile.self, from: "users", id: "nobody") == nil)
      await store.close()
    }
  }

  @Test func idsAreBoundNotInterpolated() async throws {
    try await withStore { store, _ in
      let ids = ["it's", "a\"b", "x'; DROP TABLE docs_users; --", "nul\u{0}inside", "nul", "ünïcødé", " "]
      for id in ids { try await store.insert("users", id: id, json: #"{"email":"e"}"#) }
      for id in ids { #expect(try await store.get("users", id: id)?.id == id) }
      #expect(try await store.query("users", limit: 100).items.count == ids.count)
      await expectStoreError(.invalidArgument("a document id must be 1 to 512 bytes")) {
        try await store.insert("users", id: "", json: "{}")
      }
      await expectStoreError(.invalidArgument("a document id must be 1 to 512 bytes")) {
        try await store.get("users", id: String(repeating: "x", count: 513))
      }
    }
  }

  @Test func insertOfExistingIDIsRefused() async throws {
    try await withStore { store, _ in
      try await store.insert("users", id: "u1", json: #"{"email":"first"}"#)
      await expectStoreError(.alreadyExists(collection: "users")) {
        try await store.insert("users", id: "u1", json: #"{"email":"second"}"#)
      }
      let document = try #require(try await store.get("users", id: "u1"))
      #expect(document.version == 1 && document.json == #"{"email":"first"}"#)
    }
  }

  @Test func staleVersionsAreRefusedAndChangeNothing() async throws {
    try await withStore { store, _ in
      let first = try await store.insert(
        Target(userId: "u1", status: "scheduled", dueAt: Fixture.epoch), into: "targets", id: "t1")
      var mine = first
      var theirs = first
      theirs.value.status = "cancelled"
      let current = try await store.update(theirs, in: "targets")
      #expect(current.version == 2)

      mine.value.status = "publishing"
      await expectStoreError(.versionConflict(collection: "targets", expected: 1, actual: 2)) {
        try await store.update(mine, in: "targets")
      }
      await expectStoreError(.versionConflict(collection: "targets", expected: 1, actual: 2)) {
        try await store.patch("targets", id: "t1", expectedVersion: 1, set: ["status": "publishing"])
      }
      await expectStoreError(.versionConflict(collection: "targets", expected: 1, actual: 2)) {
        try await store.delete("targets", id: "t1", expectedVersion: 1)
      }
      let after = try #require(try await store.get(Target.self, from: "targets", id: "t1"))
      #expect(after == current)

      await expectStoreError(.notFound(collection: "targets")) {
        try await store.update("targets", id: "missing", expectedVersion: 1, json: "{}")
      }
      await expectStoreError(.notFound(collection: "targets")) {
        try await store.patch("targets", id: "missing", set: ["status": "x"])
      }
      #expect(try await store.delete("targets", id: "t1", expectedVersion: 2))
    }
  }

  @Test func patchSetsTopLevelFieldsAndBumpsTheVersion() async throws {
    try await withStore { store, _ in
      try await store.insert(Target(userId: "u1", status: "scheduled", dueAt: Fixture.epoch), into: "targets", id: "t1")
      let patched = try await store.patch(
        "targets", id: "t1", set: ["status": "held", "pinned": true, "priority": 3, "claimedBy": nil])
      #expect(patched.version == 2)
      let target = try #require(try await store.get(Target.self, from: "targets", id: "t1")).value
      #expect(target.status == "held" && target.pinned && target.priority == 3 && target.claimedBy == nil)
      #expect(target.userId == "u1" && target.dueAt == Fixture.epoch)
      // The generated index columns follow the patched JSON.
      #expect(try await store.query("targets", where: [Field("pinned") == true]).items.map(\.id) == ["t1"])
      await expectStoreError(.invalidArgument("'priority' is an integer")) {
        try await store.patch("targets", id: "t1", set: ["priority": "high"])
      }
      await expectStoreError(.invalidArgument("'id' is the document key and cannot be set")) {
        try await store.patch("targets", id: "t1", set: ["id": "other"])
      }
    }
  }

  @Test func modifyReadsChangesAndWritesInOneTransaction() async throws {
    try await withStore { store, _ in
      try await store.insert(Target(userId: "u1", status: "scheduled", dueAt: Fixture.epoch), into: "targets", id: "t1")
      let modified = try await store.modify(Target.self, in: "targets", id: "t1") { $0.status = "published" }
      #expect(modified.version == 2 && modified.value.status == "published")
      await expectStoreError(.notFound(collection: "targets")) {
        try await store.modify(Target.self, in: "targets", id: "missing") { $0.status = "x" }
      }
    }
  }

  @Test func documentsThatBreakTheSchemaAreRefused() async throws {
    try await withStore { store, _ in
      await expectStoreError(.invalidDocument(collection: "users", reason: "not valid JSON")) {
        try await store.put("users", id: "u1", json: #"{"email": "x", "token": "s3cret"#)
      }
      await expectStoreError(.invalidDocument(collection: "users", reason: "not a JSON object")) {
        try await store.put("users", id: "u1", json: #"["s3cret"]"#)
      }
      await expectStoreError(
        .invalidDocument(collection: "targets", reason: "indexed field 'dueAt' must be a date (a number)")
      ) {
        try await store.put("targets", id: "t1", json: #"{"dueAt": "tomorrow", "token": "s3cret"}"#)
      }
      await expectStoreError(.invalidDocument(collection: "targets", reason: "indexed field 'pinned' must be a boolean")) {
        try await store.insert("targets", id: "t1", json: #"{"pinned": 1}"#)
      }
      let targets = try await store.query("targets").items
      let users = try await store.query("users").items
      #expect(targets.isEmpty && users.isEmpty)
    }
  }

  @Test func errorsAndDescriptionsNeverShowDocumentContents() async throws {
    try await withStore { store, _ in
      let document = try await store.put("users", id: "secret-id", json: #"{"email":"x","token":"s3cret"}"#)
      #expect(!document.description.contains("s3cret") && !document.description.contains("secret-id"))
      do {
        _ = try await store.get(Target.self, from: "users", id: "secret-id")
        Issue.record("decoding a user as a target should fail")
      } catch let error as StoreError {
        guard case .corrupt = error else { Issue.record("expected corrupt, got \(error)"); return }
        #expect(!error.description.contains("s3cret") && !error.description.contains("secret-id"))
        #expect(error.description.contains("'users'"))
      }
    }
  }
}
