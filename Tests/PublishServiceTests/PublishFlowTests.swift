import Foundation
import HayonAccount
import HayonAuth
import HayonModel
import HayonPublish
import HayonRPC
import PlatformSandbox
import Testing

@testable import PublishService

/// Over real RPC: publish-service, auth-service and account-service on loopback, the platforms
/// emulated by the sandbox. Waits are on conditions (polling the post), never guessed sleeps.
@Suite("Publishing over RPC with the sandbox", .serialized)
struct PublishFlowTests {
  @Test("publish now to both platforms: ids and URLs saved, facets with byte offsets, Idempotency-Key sent")
  func publishNowToBoth() async throws {
    try await withPublishStack { stack in
      let sandbox = stack.backends.sandbox
      let did = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      let bobDid = sandbox.bluesky.addAccount(handle: "bob.test", password: appPassword)
      let mastodonId = try await stack.backends.connectMastodon(userId: "alice", username: "alice")
      let text = "Café launch 🚀 #SwiftLang by @bob.test — see https://example.com/a?b=1"
      let created = try await stack.posts.createPost(.init(userId: "alice", text: text, platforms: [.bluesky, .mastodon]))
      #expect(created.targets.map(\.platform) == [.bluesky, .mastodon])
      let post = try await stack.waitFor(created.id, userId: "alice") { $0.status == .published }
      #expect(post.status == .published)

      let records = sandbox.bluesky.posts(did: did)
      try #require(records.count == 1)
      #expect(records[0].text == text)
      let bluesky = try #require(post.target(.bluesky))
      #expect(bluesky.platformPostId == records[0].uri && bluesky.attempts == 1)
      #expect(bluesky.url?.hasPrefix("https://bsky.app/profile/\(did)/post/") == true)
      let facets = try #require(records[0].facetsJSON)
      #expect(facets.contains(#""byteEnd":28,"byteStart":18"#), "\(facets)")
      #expect(facets.contains(#""byteEnd":41,"byteStart":32"#), "\(facets)")
      #expect(facets.contains(bobDid))
      #expect(facets.contains(#""uri":"https://example.com/a?b=1""#))

      let statuses = sandbox.mastodon.statuses(accountId: mastodonId)
      try #require(statuses.count == 1)
      #expect(statuses[0].text == text && statuses[0].idempotencyKey?.isEmpty == false)
      let mastodon = try #require(post.target(.mastodon))
      #expect(mastodon.platformPostId == statuses[0].id && mastodon.url != nil)
    }
  }

  @Test("scheduled a few seconds ahead: nothing before the time, published after it")
  func scheduledAhead() async throws {
    try await withPublishStack { stack in
      let did = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      let mastodonId = try await stack.backends.connectMastodon(userId: "alice", username: "alice")
      let due = isoIn(2, offsetHours: 2)
      let created = try await stack.posts.createPost(
        .init(userId: "alice", text: "later", platforms: [.mastodon, .bluesky], scheduledAt: due, timeZone: "Europe/Berlin"))
      #expect(created.status == .scheduled)
      #expect(created.timeZone == "Europe/Berlin" && created.scheduledAtLocal?.hasSuffix("+01:00") == true)
      #expect(stack.backends.sandbox.bluesky.posts(did: did).isEmpty)
      let post = try await stack.waitFor(created.id, userId: "alice") { $0.status == .published }
      for target in post.targets {
        #expect(try #require(target.publishedAt) >= created.scheduledAt)
      }
      #expect(stack.backends.sandbox.bluesky.posts(did: did).count == 1)
      #expect(stack.backends.sandbox.mastodon.statuses(accountId: mastodonId).count == 1)
    }
  }

  @Test("partial failure, then RetryPost touches only the failed target")
  func partialFailureAndRetry() async throws {
    try await withPublishStack { stack in
      let sandbox = stack.backends.sandbox
      let did = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      let mastodonId = try await stack.backends.connectMastodon(userId: "alice", username: "alice")
      sandbox.failNext(1, pathPrefix: "/api/v1/statuses", status: 422)
      let created = try await stack.posts.createPost(.init(userId: "alice", text: "partial", platforms: [.bluesky, .mastodon]))
      let partial = try await stack.waitFor(created.id, userId: "alice") { $0.status == .partiallyPublished }
      #expect(partial.target(.mastodon)?.state == .failed)
      #expect(partial.target(.mastodon)?.lastError?.contains("HTTP 422") == true)
      #expect(partial.target(.bluesky)?.state == .published)

      await expectRPCError(.failedPrecondition, "only failed or unknown") {
        _ = try await stack.posts.retryPost(.init(userId: "alice", postId: created.id, platforms: [.bluesky]))
      }
      let retried = try await stack.posts.retryPost(.init(userId: "alice", postId: created.id))
      #expect(retried.target(.mastodon)?.state == .scheduled && retried.target(.bluesky)?.state == .published)
      let done = try await stack.waitFor(created.id, userId: "alice") { $0.status == .published }
      #expect(done.target(.bluesky)?.attempts == 1 && done.target(.mastodon)?.attempts == 2)
      #expect(done.target(.bluesky)?.platformPostId == partial.target(.bluesky)?.platformPostId)
      #expect(sandbox.bluesky.posts(did: did).count == 1)
      #expect(sandbox.mastodon.statuses(accountId: mastodonId).count == 1)
      let keys = sandbox.requests().filter { $0.path == "/api/v1/statuses" }.compactMap { $0.header("idempotency-key") }
      #expect(keys.count == 2 && Set(keys).count == 1, "the retry must send the same Idempotency-Key")
    }
  }

  @Test("Mastodon: lost answer → unknown; RetryPost sends the same Idempotency-Key and gets the status already made")
  func mastodonLostAnswerThenRetry() async throws {
    try await withPublishStack { stack in
      let sandbox = stack.backends.sandbox
      let mastodonId = try await stack.backends.connectMastodon(userId: "alice", username: "alice")
      sandbox.dropResponseNext(1, pathPrefix: "/api/v1/statuses")
      let created = try await stack.posts.createPost(.init(userId: "alice", text: "once only", platforms: [.mastodon]))
      let unknown = try await stack.waitFor(created.id, userId: "alice") { $0.target(.mastodon)?.state == .unknown }
      #expect(unknown.target(.mastodon)?.lastError?.contains("check before retrying") == true)
      #expect(sandbox.mastodon.statuses(accountId: mastodonId).count == 1)
      _ = try await stack.posts.retryPost(.init(userId: "alice", postId: created.id))
      let done = try await stack.waitFor(created.id, userId: "alice") { $0.status == .published }
      let statuses = sandbox.mastodon.statuses(accountId: mastodonId)
      #expect(statuses.count == 1)
      #expect(done.target(.mastodon)?.platformPostId == statuses.first?.id)
    }
  }

  @Test("429: the next attempt waits for the reset the platform announced")
  func rateLimitResetHonoured() async throws {
    try await withPublishStack { stack in
      let sandbox = stack.backends.sandbox
      let did = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      sandbox.clock.set(Date())
      let reset = Date(timeIntervalSince1970: Double(sandbox.clock.unixSeconds + 2))
      sandbox.failNext(1, pathPrefix: "/xrpc/com.atproto.repo.createRecord", status: 429, retryAfterSeconds: 2)
      let created = try await stack.posts.createPost(.init(userId: "alice", text: "throttled", platforms: [.bluesky]))
      let retrying = try await stack.waitFor(created.id, userId: "alice") { $0.target(.bluesky)?.state == .retrying }
      let next = try #require(retrying.target(.bluesky)?.nextAttemptAt)
      // The backoff alone would be at most 0.2 s; the reset is what sets the time.
      #expect(next.date >= reset.addingTimeInterval(-0.001))
      let done = try await stack.waitFor(created.id, userId: "alice") { $0.status == .published }
      #expect(try #require(done.target(.bluesky)?.publishedAt).date >= reset.addingTimeInterval(-0.001))
      #expect(done.target(.bluesky)?.attempts == 2)
      #expect(sandbox.bluesky.posts(did: did).count == 1)
    }
  }

  @Test("5xx, then success: retried with backoff, posted once")
  func serverErrorThenSuccess() async throws {
    try await withPublishStack { stack in
      let sandbox = stack.backends.sandbox
      let mastodonId = try await stack.backends.connectMastodon(userId: "alice", username: "alice")
      sandbox.failNext(2, pathPrefix: "/api/v1/statuses", status: 503)
      let created = try await stack.posts.createPost(.init(userId: "alice", text: "flaky", platforms: [.mastodon]))
      let done = try await stack.waitFor(created.id, userId: "alice") { $0.status == .published }
      #expect(done.target(.mastodon)?.attempts == 3)
      #expect(sandbox.mastodon.statuses(accountId: mastodonId).count == 1)
      let keys = Set(sandbox.requests().filter { $0.path == "/api/v1/statuses" }.compactMap { $0.header("idempotency-key") })
      #expect(keys.count == 1, "the Idempotency-Key must be the same on every attempt")
    }
  }

  @Test("response lost after the platform created the post → unknown, exactly one post, never re-posted")
  func lostResponseIsUnknown() async throws {
    try await withPublishStack { stack in
      let sandbox = stack.backends.sandbox
      let did = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      sandbox.dropResponseNext(1, pathPrefix: "/xrpc/com.atproto.repo.createRecord")
      let created = try await stack.posts.createPost(.init(userId: "alice", text: "lost answer", platforms: [.bluesky]))
      let post = try await stack.waitFor(created.id, userId: "alice") { $0.target(.bluesky)?.state == .unknown }
      #expect(post.status == .failed)
      try await stack.waitTicks(10)
      #expect(try await stack.posts.getPost(.init(userId: "alice", postId: created.id)).target(.bluesky)?.state == .unknown)
      #expect(sandbox.bluesky.posts(did: did).count == 1)
      #expect(sandbox.requests().filter { $0.path == "/xrpc/com.atproto.repo.createRecord" }.count == 1)
    }
  }

  @Test("edit and reschedule before the due time: what goes out is the edited post, at the new time")
  func editAndReschedule() async throws {
    try await withPublishStack { stack in
      let sandbox = stack.backends.sandbox
      let did = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      let mastodonId = try await stack.backends.connectMastodon(userId: "alice", username: "alice")
      let created = try await stack.posts.createPost(
        .init(userId: "alice", text: "draft", platforms: [.bluesky], scheduledAt: isoIn(3600)))
      // Later: reschedule far away; then edit text, add Mastodon with its own text, bring it close.
      _ = try await stack.posts.updatePost(.init(userId: "alice", postId: created.id, scheduledAt: isoIn(7200)))
      let edited = try await stack.posts.updatePost(
        .init(
          userId: "alice", postId: created.id, text: "final text", overrides: ["mastodon": "final for mastodon"],
          platforms: [.bluesky, .mastodon], scheduledAt: isoIn(1)))
      #expect(edited.targets.map(\.platform) == [.bluesky, .mastodon] && edited.text == "final text")
      let done = try await stack.waitFor(created.id, userId: "alice") { $0.status == .published }
      #expect(sandbox.bluesky.posts(did: did).map(\.text) == ["final text"])
      #expect(sandbox.mastodon.statuses(accountId: mastodonId).map(\.text) == ["final for mastodon"])
      await expectRPCError(.failedPrecondition, "can no longer be edited") {
        _ = try await stack.posts.updatePost(.init(userId: "alice", postId: done.id, text: "too late"))
      }

      // Rescheduled away from a near time: nothing goes out at the old time.
      let moved = try await stack.posts.createPost(.init(userId: "alice", text: "moved", platforms: [.bluesky], scheduledAt: isoIn(0.5)))
      _ = try await stack.posts.updatePost(.init(userId: "alice", postId: moved.id, scheduledAt: isoIn(3600)))
      try await Task.sleep(for: .milliseconds(600))
      try await stack.waitTicks(5)
      #expect(try await stack.posts.getPost(.init(userId: "alice", postId: moved.id)).status == .scheduled)
      #expect(sandbox.bluesky.posts(did: did).count == 1)
    }
  }

  @Test("create, edit and cancel answer with the post exactly as a read then returns it")
  func answersAreTheStoredPost() async throws {
    try await withPublishStack { stack in
      _ = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      _ = try await stack.backends.connectMastodon(userId: "alice", username: "alice")
      // An hour ahead, so the scheduler changes nothing between an answer and the read after it.
      func read(_ id: String) async throws -> Posts.Post { try await stack.posts.getPost(.init(userId: "alice", postId: id)) }
      let created = try await stack.posts.createPost(
        .init(userId: "alice", text: "hello", platforms: [.bluesky, .mastodon], scheduledAt: isoIn(3600), timeZone: "Europe/Paris"))
      #expect(try await read(created.id) == created)
      let edited = try await stack.posts.updatePost(
        .init(
          userId: "alice", postId: created.id, text: "edited", overrides: ["mastodon": "for mastodon"],
          platforms: [.mastodon, .bluesky], scheduledAt: isoIn(7200)))
      #expect(edited.text == "edited" && edited.targets.map(\.platform) == [.mastodon, .bluesky])
      #expect(try await read(created.id) == edited)
      let one = try await stack.posts.cancelPost(.init(userId: "alice", postId: created.id, platforms: [.bluesky]))
      #expect(one.target(.bluesky)?.state == .cancelled && one.target(.mastodon)?.state == .scheduled)
      #expect(try await read(created.id) == one)
      let all = try await stack.posts.cancelPost(.init(userId: "alice", postId: created.id))
      #expect(all.status == .cancelled)
      #expect(try await read(created.id) == all)
    }
  }

  @Test("cancel before the due time: nothing is posted")
  func cancel() async throws {
    try await withPublishStack { stack in
      let did = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      let created = try await stack.posts.createPost(
        .init(userId: "alice", text: "never", platforms: [.bluesky], scheduledAt: isoIn(0.5)))
      let cancelled = try await stack.posts.cancelPost(.init(userId: "alice", postId: created.id))
      #expect(cancelled.status == .cancelled && cancelled.target(.bluesky)?.state == .cancelled)
      try await Task.sleep(for: .milliseconds(600))
      try await stack.waitTicks(5)
      #expect(stack.backends.sandbox.bluesky.posts(did: did).isEmpty)
      #expect(try await stack.posts.getPost(.init(userId: "alice", postId: created.id)).status == .cancelled)
      // Idempotent; editing a cancelled post is refused.
      #expect(try await stack.posts.cancelPost(.init(userId: "alice", postId: created.id)).status == .cancelled)
      await expectRPCError(.failedPrecondition, "cancelled") {
        _ = try await stack.posts.updatePost(.init(userId: "alice", postId: created.id, text: "x"))
      }
    }
  }

  @Test("Mastodon token revoked → held (health recorded), reconnect → published")
  func revokedThenReconnected() async throws {
    try await withPublishStack { stack in
      let sandbox = stack.backends.sandbox
      let mastodonId = try await stack.backends.connectMastodon(userId: "alice", username: "alice")
      sandbox.mastodon.revokeTokens(accountId: mastodonId)
      let first = try await stack.posts.createPost(.init(userId: "alice", text: "held one", platforms: [.mastodon]))
      let second = try await stack.posts.createPost(
        .init(userId: "alice", text: "held two", platforms: [.mastodon], scheduledAt: isoIn(1)))
      let held = try await stack.waitFor(first.id, userId: "alice") { $0.target(.mastodon)?.state == .held }
      #expect(held.status == .scheduled)
      #expect(held.target(.mastodon)?.lastError?.contains("connected again") == true)
      let account = try await stack.backends.accounts.getAccount(.init(userId: "alice"))
      #expect(account[.mastodon].needsReconnection)
      _ = try await stack.waitFor(second.id, userId: "alice") { $0.target(.mastodon)?.state == .held }
      // A post made while the account needs reconnection starts held.
      let third = try await stack.posts.createPost(.init(userId: "alice", text: "held three", platforms: [.mastodon]))
      #expect(third.target(.mastodon)?.state == .held && third.status == .scheduled)
      #expect(sandbox.mastodon.statuses(accountId: mastodonId).isEmpty)

      try await stack.backends.linkMastodon(userId: "alice", accountId: mastodonId)
      for post in [first, second, third] {
        _ = try await stack.waitFor(post.id, userId: "alice") { $0.status == .published }
      }
      #expect(Set(sandbox.mastodon.statuses(accountId: mastodonId).map(\.text)) == ["held one", "held two", "held three"])
    }
  }

  @Test("Bluesky: an expired access token is refreshed once and the post goes out; a revoked session holds it")
  func blueskyExpiredAndRevoked() async throws {
    try await withPublishStack { stack in
      let sandbox = stack.backends.sandbox
      let did = try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      sandbox.bluesky.expireAccessTokens(did: did)
      let created = try await stack.posts.createPost(.init(userId: "alice", text: "after refresh", platforms: [.bluesky]))
      let done = try await stack.waitFor(created.id, userId: "alice") { $0.status == .published }
      #expect(done.target(.bluesky)?.attempts == 1)
      #expect(sandbox.bluesky.refreshCount(did: did) == 1)
      #expect(sandbox.bluesky.posts(did: did).count == 1)

      sandbox.bluesky.expireAccessTokens(did: did)
      sandbox.bluesky.revokeSessions(did: did)
      let blocked = try await stack.posts.createPost(.init(userId: "alice", text: "blocked", platforms: [.bluesky]))
      _ = try await stack.waitFor(blocked.id, userId: "alice") { $0.target(.bluesky)?.state == .held }
      #expect(try await stack.backends.accounts.getAccount(.init(userId: "alice"))[.bluesky].needsReconnection)
      _ = try await stack.backends.connections.connectBluesky(.init(userId: "alice", identifier: "alice.test", appPassword: appPassword))
      _ = try await stack.waitFor(blocked.id, userId: "alice") { $0.status == .published }
      #expect(sandbox.bluesky.posts(did: did).map(\.text) == ["after refresh", "blocked"])
    }
  }
}
