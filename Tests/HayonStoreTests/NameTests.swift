import Testing

@testable import HayonStore

@Suite("Names")
struct NameTests {
  @Test(arguments: ["", "Users", "1users", "_users", "user-s", "users;drop", "us ers", "usérs", "users\"", String(repeating: "a", count: 41)])
  func badCollectionNamesAreRefused(name: String) async {
    await expectStoreError(.invalidName(name)) {
      try await SQLiteStore(.inMemory, schema: StoreSchema(collections: [CollectionSchema(name)]))
    }
  }

  @Test(arguments: ["", "UserId", "id", "user-id", "user.id", "a'b", "x]", "$.x"])
  func badFieldNamesAreRefused(name: String) async {
    await expectStoreError(.invalidName(name)) {
      try await SQLiteStore(.inMemory, schema: StoreSchema(collections: [CollectionSchema("posts", indexing: [.string(name)])]))
    }
  }

  @Test func goodNamesAreAccepted() async throws {
    let schema = StoreSchema(collections: [
      CollectionSchema("social_accounts2", indexing: [.string("userId"), .date("scheduled_at"), .integer("v2")])
    ])
    let store = try await SQLiteStore(.inMemory, schema: schema)
    try await store.put("social_accounts2", id: "a", json: #"{"userId":"u"}"#)
    await store.close()
  }

  @Test func inconsistentSchemasAreRefused() async {
    await expectStoreError(.invalidArgument("field 'userid' is declared twice in 'posts'")) {
      try await SQLiteStore(
        .inMemory, schema: StoreSchema(collections: [CollectionSchema("posts", indexing: [.string("userId"), .string("userid")])]))
    }
    await expectStoreError(.invalidArgument("collection 'posts' is declared twice")) {
      try await SQLiteStore(.inMemory, schema: StoreSchema(collections: [CollectionSchema("posts"), CollectionSchema("posts")]))
    }
    await expectStoreError(.invalidArgument("compound index of 'posts' names 'status', which is not an indexed field")) {
      try await SQLiteStore(
        .inMemory,
        schema: StoreSchema(collections: [CollectionSchema("posts", indexing: [.string("userId")], compoundIndexes: [["userId", "status"]])]))
    }
  }

  @Test func operationsCheckCollectionAndFieldNames() async throws {
    let store = try await SQLiteStore(.inMemory, schema: Fixture.schema)
    await expectStoreError(.invalidName("users; DROP TABLE docs_users")) {
      try await store.get("users; DROP TABLE docs_users", id: "x")
    }
    await expectStoreError(.unknownCollection("accounts")) { try await store.put("accounts", id: "x", json: "{}") }
    await expectStoreError(.invalidName("status' OR 1=1 --")) {
      try await store.query("targets", where: [Field("status' OR 1=1 --") == "x"])
    }
    await expectStoreError(.invalidName("dueAt DESC; --")) {
      try await store.query("targets", orderBy: [.ascending("dueAt DESC; --")])
    }
    await expectStoreError(.invalidName("a.b")) { try await store.patch("users", id: "x", set: ["a.b": 1]) }
    await store.close()
  }
}
