import Foundation
import Synchronization
import Testing

@testable import HayonStore

@Suite("Claims")
struct ClaimTests {
  static let due: [Condition] = [Field("status") == "scheduled", Field("dueAt") <= .date(Fixture.epoch)]

  static func seedDue(_ store: SQLiteStore, count: Int, notDue: Int = 0) async throws {
    try await store.transaction { tx in
      for number in 0..<(count + notDue) {
        let dueAt = number < count
          ? Fixture.epoch.addingTimeInterval(-Double(number % 97))  // due, in a scrambled order
          : Fixture.epoch.addingTimeInterval(3_600)  // not yet due
        try tx.insert(
          Target(userId: "u\(number % 4)", status: "scheduled", dueAt: dueAt), into: "targets",
          id: String(format: "t%04d", number))
      }
    }
  }

  @Test func claimTakesTheEarliestDueAndSetsFields() async throws {
    try await withStore { store, _ in
      try await Self.seedDue(store, count: 10, notDue: 5)
      let first = try await store.claim(
        Target.self, from: "targets", where: Self.due, orderBy: [.ascending("dueAt")], limit: 4,
        set: ["status": "publishing", "claimedBy": "worker-1"])
      #expect(first.count == 4)
      #expect(first.allSatisfy { $0.version == 2 && $0.value.status == "publishing" && $0.value.claimedBy == "worker-1" })
      #expect(first.map(\.value.dueAt) == first.map(\.value.dueAt).sorted())

      let rest = try await store.claim(
        "targets", where: Self.due, orderBy: [.ascending("dueAt")], limit: 100, set: ["status": "publishing"])
      #expect(rest.count == 6)
      #expect(Set(rest.map(\.id)).isDisjoint(with: first.map(\.id)))
      let earliestOfRest = try #require(try rest.first?.decode(Target.self).value.dueAt)
      #expect(first.allSatisfy { $0.value.dueAt <= earliestOfRest })

      #expect(try await store.claim("targets", where: Self.due, limit: 100, set: ["status": "publishing"]).isEmpty)
      let untouched = try await store.query("targets", where: [Field("status") == "scheduled"], limit: 100).items
      #expect(untouched.count == 5 && untouched.allSatisfy { $0.version == 1 })
    }
  }

  @Test func claimRefusesBadArguments() async throws {
    try await withStore { store, _ in
      await expectStoreError(.invalidName("bad-field")) {
        try await store.claim("targets", where: Self.due, limit: 1, set: ["bad-field": 1])
      }
      await expectStoreError(.invalidArgument("'status' is a string")) {
        try await store.claim("targets", where: Self.due, limit: 1, set: ["status": 1])
      }
      await expectStoreError(.invalidArgument("nothing to set")) {
        try await store.claim("targets", where: Self.due, limit: 1, set: [:])
      }
      await expectStoreError(.invalidArgument("a claim takes no page cursor")) {
        try await store.claim("targets", Query(where: Self.due, after: PageCursor(token: "x")), set: ["status": "p"])
      }
    }
  }

  /// 8 claimers, spread over two store instances on the same file (as two processes would be),
  /// race over 1,000 due targets: each must be claimed exactly once, by the claimer that got it.
  @Test func concurrentClaimersClaimEveryTargetExactlyOnce() async throws {
    try await withTemporaryDirectory { directory in
      let path = databasePath(in: directory)
      let first = try await SQLiteStore(.file(path), schema: Fixture.schema)
      let second = try await SQLiteStore(.file(path), schema: Fixture.schema)
      try await Self.seedDue(first, count: 1_000, notDue: 50)

      let claims = try await withThrowingTaskGroup(of: [(String, String)].self) { group in
        for worker in 0..<8 {
          let store = worker.isMultiple(of: 2) ? first : second
          group.addTask {
            var mine: [(String, String)] = []
            while true {
              let batch = try await store.claim(
                Target.self, from: "targets", where: Self.due, orderBy: [.ascending("dueAt")], limit: 7,
                set: ["status": "publishing", "claimedBy": .string("w\(worker)")])
              if batch.isEmpty { return mine }
              mine += batch.map { ($0.id, $0.value.claimedBy ?? "") }
            }
          }
        }
        var all: [(String, String)] = []
        for try await batch in group { all += batch }
        return all
      }

      #expect(claims.count == 1_000)
      #expect(Set(claims.map(\.0)).count == 1_000)
      #expect(Set(claims.map(\.1)).count > 1, "expected the work to be shared")
      let stored = try await first.query(Target.self, from: "targets", where: [Field("status") == "publishing"], limit: 1_000).items
      let claimedBy = Dictionary(uniqueKeysWithValues: claims)
      #expect(stored.count == 1_000)
      #expect(stored.allSatisfy { $0.version == 2 && $0.value.claimedBy == claimedBy[$0.id] })
      #expect(try await first.query("targets", where: [Field("status") == "scheduled"], limit: 1_000).items.count == 50)
      await first.close()
      await second.close()
    }
  }
}
