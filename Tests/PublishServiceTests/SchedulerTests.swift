import Foundation
import HayonModel
import HayonPublish
import HayonRPC
import PlatformSandbox
import Testing

@testable import PublishService

/// The scheduler driven tick by tick (no background loop), over real RPC and the sandbox.
@Suite("Scheduler, tick by tick", .serialized)
struct SchedulerTests {
  @Test("claims are bounded per platform and per account; the rest wait for the next tick")
  func boundedFanOut() async throws {
    try await withPublishStack(runsScheduler: false, configure: {
      $0.maximumInFlightPerPlatform = 3
      $0.maximumInFlightPerAccount = 2
    }) { stack in
      let aliceDid = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      let bobDid = try await stack.backends.connectBluesky(userId: "bob", handle: "bob.test")
      var ids: [(String, String)] = []
      for number in 0..<4 {
        for user in ["alice", "bob"] {
          let post = try await stack.posts.createPost(.init(userId: user, text: "\(user) \(number)", platforms: [.bluesky]))
          ids.append((user, post.id))
        }
      }
      let first = await stack.scheduler.tick()
      #expect(first.claimed == 3)
      await stack.scheduler.idle()
      var published = 0
      for (user, id) in ids where try await stack.posts.getPost(.init(userId: user, postId: id)).status == .published {
        published += 1
      }
      #expect(published == 3)
      // At most 2 of one account were in that first claim.
      let sandbox = stack.backends.sandbox
      #expect(sandbox.bluesky.posts(did: aliceDid).count <= 2 && sandbox.bluesky.posts(did: bobDid).count <= 2)
      var ticks = 1
      while sandbox.bluesky.posts(did: aliceDid).count + sandbox.bluesky.posts(did: bobDid).count < 8 {
        let report = await stack.scheduler.tick()
        #expect(report.claimed <= 3)
        await stack.scheduler.idle()
        ticks += 1
        try #require(ticks < 20)
      }
      #expect(ticks == 3)
      #expect(await stack.scheduler.tick().claimed == 0)
    }
  }

  @Test("out of attempts: failed when nothing can have been posted (429s), unknown after 5xx answers to the create call")
  func attemptsExhausted() async throws {
    try await withPublishStack(configure: { $0.retry = RetryPolicy(maximumAttempts: 3, baseDelay: 0.05, maximumDelay: 0.1) }) { stack in
      let did = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      let sandbox = stack.backends.sandbox
      sandbox.failNext(3, pathPrefix: "/xrpc/com.atproto.repo.createRecord", status: 502)
      let created = try await stack.posts.createPost(.init(userId: "alice", text: "doomed", platforms: [.bluesky]))
      let post = try await stack.waitFor(created.id, userId: "alice") { $0.target(.bluesky)?.state.isSettled == true }
      let target = try #require(post.target(.bluesky))
      #expect(target.state == .unknown && target.attempts == 3)
      #expect(target.lastError?.hasPrefix("gave up after 3 attempts: HTTP 502 UpstreamFailure: Upstream Failure; a server error") == true)

      sandbox.clock.set(Date())
      sandbox.failNext(3, pathPrefix: "/xrpc/com.atproto.repo.createRecord", status: 429, retryAfterSeconds: 0)
      let limited = try await stack.posts.createPost(.init(userId: "alice", text: "throttled", platforms: [.bluesky]))
      let failed = try await stack.waitFor(limited.id, userId: "alice") { $0.target(.bluesky)?.state.isSettled == true }
      #expect(failed.target(.bluesky)?.state == .failed && failed.target(.bluesky)?.attempts == 3)
      #expect(failed.target(.bluesky)?.lastError?.hasPrefix("gave up after 3 attempts: rate limited") == true)
      #expect(sandbox.bluesky.posts(did: did).isEmpty)
    }
  }

  @Test("finished attempts refill a saturated platform at once, and the loop does not spin afterwards")
  func wakesWithoutSpinning() async throws {
    try await withPublishStack(configure: {
      $0.maximumInFlightPerPlatform = 1
      $0.tickInterval = .milliseconds(200)
    }) { stack in
      let did = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      let started = ContinuousClock.now
      var ids: [String] = []
      for number in 0..<6 {
        ids.append(try await stack.posts.createPost(.init(userId: "alice", text: "wake \(number)", platforms: [.bluesky])).id)
      }
      for id in ids { _ = try await stack.waitFor(id, userId: "alice") { $0.status == .published } }
      // One at a time; at one claim per 200 ms tick alone this would take over a second.
      #expect(ContinuousClock.now - started < .milliseconds(1100))
      #expect(stack.backends.sandbox.bluesky.posts(did: did).count == 6)
      let before = stack.scheduler.ticks
      try await Task.sleep(for: .seconds(1))
      let ticked = stack.scheduler.ticks - before
      #expect(ticked <= 8, "\(ticked) ticks in one second at a 200 ms interval")
    }
  }
}
