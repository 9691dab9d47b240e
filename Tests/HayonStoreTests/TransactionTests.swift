import Foundation
import Testing

@testable import HayonStore

@Suite("Transactions")
struct TransactionTests {
  struct Abort: Error {}

  @Test func aThrownErrorRollsBackEveryCollection() async throws {
    try await withStore { store, _ in
      try await store.insert("users", id: "existing", json: #"{"email":"old"}"#)
      await #expect(throws: Abort.self) {
        try await store.transaction { tx in
          try tx.insert("users", id: "u1", json: #"{"email":"a"}"#)
          try tx.put("posts", id: "p1", json: #"{"userId":"u1"}"#)
          try tx.put("users", id: "existing", json: #"{"email":"new"}"#)
          _ = try tx.delete("users", id: "existing")
          _ = try tx.claim("targets", where: [], limit: 10, set: ["status": "x"])
          throw Abort()
        }
      }
      #expect(try await store.get("users", id: "u1") == nil)
      #expect(try await store.get("posts", id: "p1") == nil)
      let existing = try #require(try await store.get("users", id: "existing"))
      #expect(existing.version == 1 && existing.json == #"{"email":"old"}"#)
    }
  }

  @Test func aStoreErrorMidwayRollsBackEarlierWrites() async throws {
    try await withStore { store, _ in
      try await store.insert("users", id: "taken", json: "{}")
      await expectStoreError(.alreadyExists(collection: "users")) {
        try await store.transaction { tx in
          try tx.insert("posts", id: "p1", json: "{}")
          try tx.insert("users", id: "taken", json: "{}")
        }
      }
      #expect(try await store.get("posts", id: "p1") == nil)
    }
  }

  @Test func aTransactionCommitsAcrossCollectionsAndReturnsItsResult() async throws {
    try await withStore { store, _ in
      let versions = try await store.transaction { tx in
        let user = try tx.insert("users", id: "u1", json: #"{"email":"a"}"#)
        let post = try tx.insert("posts", id: "p1", json: #"{"userId":"u1"}"#)
        // Reads inside the transaction see its own writes.
        let again = try tx.get("posts", id: "p1")
        let page = try tx.query("posts", where: [Field("userId") == "u1"])
        return [user.version, post.version, again?.version ?? 0, Int64(page.items.count)]
      }
      #expect(versions == [1, 1, 1, 1])
      #expect(try await store.get("users", id: "u1") != nil)
      #expect(try await store.get("posts", id: "p1") != nil)
    }
  }
}
