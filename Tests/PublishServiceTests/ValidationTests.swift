import Foundation
import HayonModel
import HayonPublish
import HayonRPC
import PlatformSandbox
import Testing

@testable import PublishService

@Suite("Posts RPC input and ownership", .serialized)
struct ValidationTests {
  @Test("bad input: clear INVALID_ARGUMENT naming the field; not connected is FAILED_PRECONDITION; nothing stored")
  func badInput() async throws {
    try await withPublishStack { stack in
      try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      try await stack.backends.connectMastodon(userId: "alice", username: "alice")
      let posts = stack.posts
      func create(
        _ text: String = "hi", platforms: [Platform] = [.bluesky], scheduledAt: String? = nil, timeZone: String? = nil,
        overrides: [String: String]? = nil, userId: String = "alice"
      ) async throws {
        _ = try await posts.createPost(
          .init(userId: userId, text: text, overrides: overrides, platforms: platforms, scheduledAt: scheduledAt, timeZone: timeZone))
      }
      await expectRPCError(.invalidArgument, "text is 301 characters (graphemes) long; Bluesky allows 300") {
        try await create(String(repeating: "🇩🇪", count: 301))
      }
      await expectRPCError(.invalidArgument, "scheduledAt the time has no UTC offset") { try await create(scheduledAt: "2030-01-01T10:00:00") }
      await expectRPCError(.invalidArgument, "scheduledAt is in the past") { try await create(scheduledAt: "2020-01-01T10:00:00Z") }
      await expectRPCError(.invalidArgument, "timeZone is not an IANA time zone") { try await create(timeZone: "Mars/Olympus") }
      await expectRPCError(.invalidArgument, "platforms is empty") { try await create(platforms: []) }
      await expectRPCError(.invalidArgument, "platforms names a platform twice") { try await create(platforms: [.bluesky, .bluesky]) }
      await expectRPCError(.invalidArgument, "text is empty") { try await create("  \n") }
      await expectRPCError(.invalidArgument, "userId") { try await create(userId: "no spaces") }
      await expectRPCError(.invalidArgument, "overrides.mastodon is for a platform the post does not go to") {
        try await create(overrides: ["mastodon": "x"])
      }
      await expectRPCError(.unimplemented, "Tumblr is not available yet") { try await create(platforms: [.tumblr]) }
      await expectRPCError(.failedPrecondition, "Bluesky is not connected") {
        try await create(platforms: [.bluesky], userId: "bob")
      }
      // Mastodon: the instance's max_characters, URLs as 23.
      stack.backends.sandbox.mastodon.setMaxCharacters(100)
      await expectRPCError(.invalidArgument, "overrides.mastodon is 101 characters long") {
        try await create(platforms: [.bluesky, .mastodon], overrides: ["mastodon": String(repeating: "m", count: 101)])
      }
      let url = "https://example.com/" + String(repeating: "p", count: 300)
      _ = try await posts.createPost(
        .init(userId: "alice", text: String(repeating: "m", count: 76) + " " + url, platforms: [.mastodon], scheduledAt: isoIn(3600)))
      let listed = try await posts.listPosts(.init(userId: "alice"))
      #expect(listed.posts.count == 1)
    }
  }

  @Test("a time zone is kept as the person named it (UTC stays UTC, not Foundation's GMT)")
  func timeZoneKeepsItsName() async throws {
    try await withPublishStack { stack in
      _ = try await stack.backends.connectMastodon(userId: "zoe", username: "zoe")
      let created = try await stack.posts.createPost(
        .init(userId: "zoe", text: "when", platforms: [.mastodon], scheduledAt: isoIn(60, offsetHours: 0), timeZone: "UTC"))
      #expect(created.timeZone == "UTC")
      let edited = try await stack.posts.updatePost(.init(userId: "zoe", postId: created.id, timeZone: "Asia/Kolkata"))
      #expect(edited.timeZone == "Asia/Kolkata")
      #expect(edited.scheduledAtLocal?.hasSuffix("+05:30") == true)
    }
  }

  @Test("another user's post is NOT_FOUND; list pages newest first and filters by status")
  func ownershipAndListing() async throws {
    try await withPublishStack { stack in
      try await stack.backends.connectBluesky(userId: "alice", handle: "alice.test")
      var ids: [String] = []
      for number in 0..<5 {
        let post = try await stack.posts.createPost(
          .init(userId: "alice", text: "post \(number)", platforms: [.bluesky], scheduledAt: isoIn(3600)))
        ids.append(post.id)
      }
      await expectRPCError(.notFound, "no post with that id") {
        _ = try await stack.posts.getPost(.init(userId: "mallory", postId: ids[0]))
      }
      await expectRPCError(.notFound, "no post with that id") {
        _ = try await stack.posts.cancelPost(.init(userId: "mallory", postId: ids[0]))
      }
      _ = try await stack.posts.cancelPost(.init(userId: "alice", postId: ids[1]))
      let first = try await stack.posts.listPosts(.init(userId: "alice", pageSize: 2))
      let second = try await stack.posts.listPosts(.init(userId: "alice", pageSize: 2, pageToken: first.nextPageToken))
      let third = try await stack.posts.listPosts(.init(userId: "alice", pageSize: 2, pageToken: second.nextPageToken))
      #expect((first.posts + second.posts + third.posts).map(\.id) == ids.reversed())
      #expect(third.nextPageToken == nil)
      let cancelled = try await stack.posts.listPosts(.init(userId: "alice", status: .cancelled))
      #expect(cancelled.posts.map(\.id) == [ids[1]])
      #expect(try await stack.posts.listPosts(.init(userId: "mallory")).posts.isEmpty)
      await expectRPCError(.invalidArgument, "pageToken") {
        _ = try await stack.posts.listPosts(.init(userId: "alice", pageToken: "garbage"))
      }
      await expectRPCError(.invalidArgument, "pageSize") { _ = try await stack.posts.listPosts(.init(userId: "alice", pageSize: 0)) }
      // A create retried with the same requestId answers the first post.
      let once = try await stack.posts.createPost(
        .init(userId: "alice", text: "once", platforms: [.bluesky], scheduledAt: isoIn(3600), requestId: "r-1"))
      let again = try await stack.posts.createPost(
        .init(userId: "alice", text: "once", platforms: [.bluesky], scheduledAt: isoIn(3600), requestId: "r-1"))
      #expect(once.id == again.id)
    }
  }
}
