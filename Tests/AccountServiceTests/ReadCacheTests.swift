import HayonAccount
import HayonModel
import HayonRuntime
import HayonStore
import Testing

@testable import AccountService
@testable import HayonRPC

@Suite("AccountStore's read cache stays exact across writes")
struct ReadCacheTests {
  static func document(_ userId: String, handle: String) -> Accounts.SocialAccount {
    var account = Accounts.SocialAccount.empty(userId: userId)
    account.platforms[0].connected = true
    account.platforms[0].profile = Accounts.Profile(handle: handle)
    return account
  }

  static func encoded(_ account: Accounts.SocialAccount) throws -> EncodedAccount {
    EncodedAccount(account: account, json: try JSONMessageCodec().encode(account))
  }

  @Test("a read overlapping a write is not cached; hits after a fill; writes drop the entry")
  func tickets() throws {
    let cache = AccountReadCache(capacity: 10)
    let old = Self.document("u", handle: "old")
    guard case .miss(let ticket?) = cache.lookup("u") else {
      Issue.record("an idle cache must hand out a ticket")
      return
    }
    // A write starts and ends while the read is out: its result may predate the commit.
    cache.writeStarted("u")
    guard case .miss(nil) = cache.lookup("u") else {
      Issue.record("no ticket while a write is in flight")
      return
    }
    cache.writeEnded("u")
    cache.fill("u", try Self.encoded(old), ticket: ticket)
    guard case .miss(let fresh?) = cache.lookup("u") else {
      Issue.record("the stale read must not have been cached")
      return
    }
    let new = Self.document("u", handle: "new")
    cache.fill("u", try Self.encoded(new), ticket: fresh)
    guard case .hit(let hit) = cache.lookup("u") else {
      Issue.record("a clean fill is a hit")
      return
    }
    #expect(hit.account == new)
    #expect(hit.json == (try JSONMessageCodec().encode(new)))
    cache.writeStarted("u")
    cache.writeEnded("u")
    guard case .miss = cache.lookup("u") else {
      Issue.record("a write drops the entry")
      return
    }
    // Bounded: full, it starts over.
    for index in 0..<25 {
      guard case .miss(let ticket?) = cache.lookup("v\(index)") else { continue }
      cache.fill("v\(index)", try Self.encoded(Self.document("v\(index)", handle: "h")), ticket: ticket)
    }
    var hits = 0
    for index in 0..<25 { if case .hit = cache.lookup("v\(index)") { hits += 1 } }
    #expect(hits > 0 && hits <= 10)
    let off = AccountReadCache(capacity: 0)
    guard case .miss(nil) = off.lookup("u") else {
      Issue.record("a disabled cache hands out no tickets")
      return
    }
  }

  @Test("GetAccount's reply carries the document's JSON from the store's cache, not encoded per call")
  func replyCarriesTheEncoding() async throws {
    let store = try await SQLiteStore(.inMemory, schema: AccountStore.schema)
    let accounts = AccountStore(store: store)
    let service = SocialAccountService(
      accounts: accounts, clock: TestClock(), logger: Logger(label: "test", minimumLevel: .error, sink: LogCollector().sink))
    let context = ServerContext(
      method: Accounts.Method.GetAccount.descriptor, metadata: Metadata(), deadline: nil, isSecure: false)
    let reply = try await service.getAccountReply(.init(userId: Sample.userId), context: context)
    #expect(reply.value == .empty(userId: Sample.userId))
    let cached = try await accounts.encodedAccount(userId: Sample.userId)
    #expect(reply.json == cached.json)
    #expect(reply.json == (try JSONMessageCodec().encode(reply.value)))
    await store.close()
  }

  @Test("reads after each write see that write, also with reads running alongside the writes")
  func readsSeeWrites() async throws {
    let store = try await SQLiteStore(.inMemory, schema: AccountStore.schema)
    let accounts = AccountStore(store: store)
    #expect(try await accounts.encodedAccount(userId: "u1").account == .empty(userId: "u1"))
    #expect(try await accounts.encodedAccount(userId: "u1").account == .empty(userId: "u1"))  // cached
    for round in 0..<20 {
      let handle = "h\(round)"
      let written = try await accounts.modify(userId: "u1") { account throws(RPCError) in
        account[.bluesky] = Accounts.PlatformAccount(
          platform: .bluesky, connected: true, platformId: "did:plc:x", profile: Accounts.Profile(handle: handle),
          health: nil, platformFields: nil, connectedAt: nil)
      }
      #expect(try await accounts.encodedAccount(userId: "u1").account == written)
      #expect(try await accounts.encodedAccount(userId: "u1").account[.bluesky].profile?.handle == handle)
      // The encoding kept beside the cached document is the written document's.
      let encoded = try await accounts.encodedAccount(userId: "u1")
      #expect(encoded.account == written)
      #expect(encoded.json == (try JSONMessageCodec().encode(written)))
    }
    // Writers and readers at once; afterwards the cache must agree with the store.
    try await withThrowingTaskGroup(of: Void.self) { group in
      for round in 0..<30 {
        group.addTask {
          _ = try await accounts.modify(userId: "u2") { account throws(RPCError) in
            account[.mastodon].platformId = "m\(round)"
          }
        }
        group.addTask { _ = try await accounts.encodedAccount(userId: "u2").account }
      }
      try await group.waitForAll()
    }
    let stored = try await store.get(StoredAccount.self, from: AccountStore.collection, id: "u2")?.value.account
    #expect(try await accounts.encodedAccount(userId: "u2").account == stored)
    #expect(try await accounts.encodedAccount(userId: "u1").account[.bluesky].profile?.handle == "h19")
    await store.close()
  }
}
