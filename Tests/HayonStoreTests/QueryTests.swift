import Foundation
import Testing

@testable import HayonStore

@Suite("Queries")
struct QueryTests {
  /// 250 targets with repeated and missing sort values, so ties and nulls are exercised.
  static func seed(_ store: SQLiteStore, count: Int = 250) async throws {
    try await store.transaction { tx in
      for number in 0..<count {
        let target = Target(
          userId: "u\(number % 5)", status: number % 3 == 0 ? "published" : "scheduled",
          dueAt: Fixture.epoch.addingTimeInterval(Double(number % 13) * 60),
          priority: number % 11 == 0 ? nil : number % 7)
        try tx.insert(target, into: "targets", id: String(format: "t%03d", number))
      }
    }
  }

  /// The order the store promises, computed independently: keys in turn (nulls lowest), then
  /// the id in the direction of the last key.
  static func expectedOrder(_ targets: [Stored<Target>], _ order: [SortKey]) -> [String] {
    func value(_ target: Stored<Target>, _ field: String) -> StoreValue {
      switch field {
      case "priority": target.value.priority.map { .integer(Int64($0)) } ?? .null
      case "dueAt": .date(target.value.dueAt)
      case "status": .string(target.value.status)
      case "userId": .string(target.value.userId)
      default: .string(target.id)
      }
    }
    func less(_ lhs: StoreValue, _ rhs: StoreValue) -> Bool? {
      switch (lhs, rhs) {
      case (.null, .null): nil
      case (.null, _): true
      case (_, .null): false
      case (.integer(let a), .integer(let b)): a == b ? nil : a < b
      case (.double(let a), .double(let b)): a == b ? nil : a < b
      case (.string(let a), .string(let b)): a == b ? nil : Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8))
      default: nil
      }
    }
    var keys = order
    if keys.last?.field != "id" { keys.append(SortKey("id", keys.last?.direction ?? .ascending)) }
    return targets.sorted { lhs, rhs in
      for key in keys {
        guard let isLess = less(value(lhs, key.field), value(rhs, key.field)) else { continue }
        return key.direction == .ascending ? isLess : !isLess
      }
      return false
    }.map(\.id)
  }

  static let orderings: [[SortKey]] = [
    [],
    [.descending("id")],
    [.ascending("priority")],
    [.descending("priority")],
    [.ascending("dueAt"), .descending("priority")],
    [.ascending("status"), .descending("dueAt"), .ascending("priority")],
    [.descending("userId"), .ascending("id")],
  ]

  @Test(arguments: orderings, [1, 17, 1_000])
  func pagesAreCompleteAndWithoutDuplicates(order: [SortKey], pageSize: Int) async throws {
    try await withStore { store, _ in
      try await Self.seed(store)
      let all = try await store.query(Target.self, from: "targets", limit: 1_000).items
      #expect(all.count == 250)

      var seen: [String] = []
      var cursor: PageCursor?
      var pages = 0
      repeat {
        let page = try await store.query(
          Target.self, from: "targets", orderBy: order, limit: pageSize, after: cursor)
        #expect(page.items.count <= pageSize)
        seen += page.items.map(\.id)
        cursor = page.next
        pages += 1
      } while cursor != nil && pages < 1_000
      #expect(seen == Self.expectedOrder(all, order))
      #expect(Set(seen).count == 250)
      #expect(pages == (250 + pageSize - 1) / pageSize)
    }
  }

  @Test func pagingStaysStableWhileDocumentsAreAdded() async throws {
    try await withStore { store, _ in
      try await Self.seed(store, count: 100)
      var seen: [String] = []
      var cursor: PageCursor?
      var added = 0
      repeat {
        let page = try await store.query(
          "targets", where: [Field("status") == "scheduled"], orderBy: [.ascending("dueAt")], limit: 9, after: cursor)
        seen += page.items.map(\.id)
        cursor = page.next
        // Documents that sort both before and after the cursor arrive between pages.
        for offset in [-1.0, 1.0] {
          let target = Target(userId: "late", status: "scheduled", dueAt: Fixture.epoch.addingTimeInterval(offset * 300))
          try await store.insert(target, into: "targets", id: "late\(added)")
          added += 1
        }
      } while cursor != nil
      let original = try await store.query(
        "targets", where: [Field("status") == "scheduled", Field("userId") != "late"], limit: 1_000
      ).items.map(\.id)
      #expect(Set(seen).count == seen.count)
      #expect(Set(original).isSubset(of: Set(seen)))
    }
  }

  @Test func filtersCombineOnIndexedFields() async throws {
    try await withStore { store, _ in
      try await Self.seed(store)
      let cutoff = Fixture.epoch.addingTimeInterval(5 * 60)
      let due = try await store.query(
        Target.self, from: "targets", where: [Field("status") == "scheduled", Field("dueAt") <= .date(cutoff)],
        orderBy: [.ascending("dueAt")], limit: 1_000
      ).items
      #expect(!due.isEmpty)
      #expect(due.allSatisfy { $0.value.status == "scheduled" && $0.value.dueAt <= cutoff })
      #expect(due.map(\.value.dueAt) == due.map(\.value.dueAt).sorted())
      let all = try await store.query(Target.self, from: "targets", limit: 1_000).items
      #expect(due.count == all.filter { $0.value.status == "scheduled" && $0.value.dueAt <= cutoff }.count)

      let noPriority = try await store.query("targets", where: [Field("priority") == nil], limit: 1_000).items
      #expect(noPriority.count == all.filter { $0.value.priority == nil }.count)
      // != also matches documents without the field.
      let notThree = try await store.query("targets", where: [Field("priority") != 3], limit: 1_000).items
      #expect(notThree.count == all.filter { $0.value.priority != 3 }.count)
      let range = try await store.query(
        "targets", where: [Field("priority") > 2, Field("priority") < 5, Field.id >= "t100"], limit: 1_000
      ).items
      #expect(range.count == all.filter { ($0.value.priority ?? -1) > 2 && ($0.value.priority ?? -1) < 5 && $0.id >= "t100" }.count)
    }
  }

  @Test func theSchedulerQueryIsServedByTheCompoundIndex() async throws {
    try await withStore { store, _ in
      try await Self.seed(store)
      var query = Query(
        where: [Field("status") == "scheduled", Field("dueAt") <= .date(Fixture.epoch)],
        orderBy: [.ascending("dueAt")], limit: 100)
      let plan = try await store.queryPlan("targets", query).joined(separator: "\n")
      #expect(plan.contains("USING INDEX ix_targets__status__dueAt"), "\(plan)")
      #expect(!plan.contains("TEMP B-TREE"), "\(plan)")

      query.after = try await store.query("targets", query).next ?? PageCursor(
        .init(ordering: "dueAt:asc,id:asc", values: [.double(0)], id: "t000"))
      let pagedPlan = try await store.queryPlan("targets", query).joined(separator: "\n")
      #expect(pagedPlan.contains("USING INDEX ix_targets__status__dueAt"), "\(pagedPlan)")
      #expect(!pagedPlan.contains("TEMP B-TREE"), "\(pagedPlan)")

      let byUser = try await store.queryPlan("targets", Query(where: [Field("userId") == "u1"], orderBy: [.descending("id")]))
      #expect(byUser.joined().contains("ix_targets__userId"), "\(byUser)")
    }
  }

  @Test func badQueriesAreRefused() async throws {
    try await withStore { store, _ in
      try await Self.seed(store, count: 30)
      await expectStoreError(.invalidArgument("'secret' is not an indexed field of 'targets'")) {
        try await store.query("targets", where: [Field("secret") == "x"])
      }
      await expectStoreError(.invalidArgument("'dueAt' is a date (a number)")) {
        try await store.query("targets", where: [Field("dueAt") <= "2024-01-01"])
      }
      await expectStoreError(.invalidArgument("'priority' can only be compared with null by == or !=")) {
        try await store.query("targets", where: [Field("priority") < nil])
      }
      await expectStoreError(.invalidArgument("'dueAt' cannot be compared with a non-finite number")) {
        try await store.query("targets", where: [Field("dueAt") < .double(.nan)])
      }
      await expectStoreError(.invalidArgument("limit must be between 1 and 1000")) {
        try await store.query("targets", limit: 0)
      }
      await expectStoreError(.invalidArgument("'id' must be the last key of an ordering")) {
        try await store.query("targets", orderBy: [.ascending("id"), .ascending("dueAt")])
      }
      await expectStoreError(.invalidArgument("'dueAt' appears twice in the ordering")) {
        try await store.query("targets", orderBy: [.ascending("dueAt"), .descending("dueAt")])
      }
      let cursor = try #require(try await store.query("targets", orderBy: [.ascending("dueAt")], limit: 5).next)
      await expectStoreError(.invalidArgument("the page cursor belongs to a query with a different ordering")) {
        try await store.query("targets", orderBy: [.descending("dueAt")], limit: 5, after: cursor)
      }
      await expectStoreError(.invalidArgument("malformed page cursor")) {
        try await store.query("targets", limit: 5, after: PageCursor(token: "not a cursor!"))
      }
    }
  }
}

