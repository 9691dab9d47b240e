import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonHTTP2
import HayonModel
import HayonPlatforms
import HayonPublish
import HayonRPC
import HayonStore
import Synchronization
import Testing

@testable import PublishService

/// A wall clock moved by hand.
final class ManualClock: WallClock {
  private let current: Mutex<Date>
  init(_ start: Date) { current = Mutex(start) }
  var now: Date { current.withLock { $0 } }
  func advance(_ seconds: TimeInterval) { current.withLock { $0 += seconds } }
}

/// The lease sweep on a store and a hand-moved clock: no sockets, no platform.
@Suite("Lease sweep")
struct SweepTests {
  @Test("a publishing target whose lease ran out becomes unknown at the first tick after, never before")
  func sweep() async throws {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let clock = ManualClock(start)
    let database = try await SQLiteStore(.inMemory, schema: PublishStore.schema)
    let store = PublishStore(store: database)
    // Clients to a closed port: this test must never reach another service.
    let nowhere = try RPCClient(configuration: RPCClient.Configuration(target: SocketAddress(host: "127.0.0.1", port: 9), credential: nil))
    let scheduler = Scheduler(
      store: store, accounts: Accounts.Client(nowhere), connections: Connections.Client(nowhere), http: URLSessionHTTPClient(),
      configuration: PublishConfiguration(leaseDuration: 30), clock: clock)

    let post = PostRecord(
      userId: "u1", text: "hi", overrides: [:], platforms: [.bluesky, .mastodon], scheduledAt: start, timeZone: nil,
      status: .scheduled, createdAt: start, updatedAt: start, requestId: nil)
    let claimed = try TargetMachine.claim(
      TargetMachine.new(postId: "p1", userId: "u1", platform: .bluesky, dueAt: start, held: nil, idempotencyKey: "k", now: start),
      now: start, leaseUntil: start + 30, token: "dead-process-1")
    let published = try #require(
      TargetMachine.finish(
        try TargetMachine.claim(
          TargetMachine.new(postId: "p1", userId: "u1", platform: .mastodon, dueAt: start, held: nil, idempotencyKey: "k2", now: start),
          now: start, leaseUntil: start + 30, token: "dead-process-2"),
        token: "dead-process-2", outcome: .published(platformPostId: "9", url: nil), policy: RetryPolicy(), random: 0, now: start))
    try await store.transaction { try $0.insert(post: post, id: "p1", targets: [claimed, published]) }

    clock.advance(29)
    #expect(try await scheduler.sweep() == 0)
    clock.advance(1)
    #expect(try await scheduler.sweep() == 1)
    let targets = try await store.targets(postId: "p1").map(\.value)
    #expect(targets.first { $0.platform == .bluesky }?.state == .unknown)
    #expect(targets.first { $0.platform == .mastodon }?.state == .published)
    #expect(try await store.post(id: "p1")?.value.status == .partiallyPublished)
    // Nothing is due: the unknown target is not claimed again.
    #expect(try await scheduler.claim(.bluesky) == 0)
    await nowhere.close()
    await database.close()
  }
}
