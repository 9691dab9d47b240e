import HayonModel
import HayonRPC

/// `hayon.publish.v1.Posts`: a user's posts, their schedule, and the fan-out of each post to the
/// platforms the user chose. One **target** per chosen platform carries its own state.
///
/// Conventions:
/// - Every request names `userId`: the gateway passes the authenticated user. A post that belongs
///   to another user answers `NOT_FOUND`, exactly like one that does not exist.
/// - `INVALID_ARGUMENT` names the offending field (`text is 312 graphemes; Bluesky allows 300`,
///   `scheduledAt has no UTC offset ...`) and nothing changes.
/// - `FAILED_PRECONDITION` when the post is in the wrong state for the call (editing a post that is
///   already publishing, retrying a published target) or a chosen platform is not connected.
/// - Times the service returns are `Timestamp`s (ISO 8601 UTC with milliseconds). `scheduledAt`
///   arrives as ISO 8601 text **with** an offset; a time without one is refused, never guessed.
/// - Text is validated when the post is created or edited, on the final text of each target, with
///   each platform's real rule (Bluesky: 300 graphemes and 3000 UTF-8 bytes; Mastodon: the
///   instance's `max_characters`, URLs counted as 23).
public enum Posts {
  public static let serviceName = "hayon.publish.v1.Posts"

  /// Input limits the service enforces.
  public enum Limits {
    /// User ids: 1…64 characters of `[A-Za-z0-9_-]` (the rule account-service uses).
    public static let userIdLength = UserID.maximumLength
    public static let postIdLength = 64
    /// Any text beyond this is refused before a platform rule is even consulted.
    public static let textBytes = 20_000
    public static let timeZoneLength = 64
    public static let requestIdLength = 128
    public static let defaultPageSize = 20
    public static let maximumPageSize = 100
  }

  // MARK: States

  /// One target's state. `scheduled → publishing → published | retrying | failed | unknown | held |
  /// cancelled`; `retrying → publishing`; `held → scheduled` when the account is reconnected.
  public enum TargetState: String, Codable, Sendable, Hashable, CaseIterable {
    /// Waiting for its time (`dueAt`).
    case scheduled
    /// Claimed by a publisher, which holds a lease on it.
    case publishing
    /// The platform accepted it: `platformPostId` and `url` are set.
    case published
    /// A transient failure; the next attempt is at `nextAttemptAt`.
    case retrying
    /// Refused by the platform, or out of attempts: `lastError` says why. `RetryPost` may retry it.
    case failed
    /// The request may have reached the platform but no answer came (or the publisher died
    /// mid-call). Never re-posted automatically; check the account, then `RetryPost` if it is not there.
    case unknown
    /// The account needs reconnection; reconnecting it resumes the target.
    case held
    /// Cancelled before it was published.
    case cancelled

    /// Nothing more will happen to it without a user action.
    public var isSettled: Bool {
      switch self {
      case .published, .failed, .unknown, .cancelled: true
      case .scheduled, .publishing, .retrying, .held: false
      }
    }
  }

  /// A post's overall status, derived from its targets (`PostStatus.derive`).
  public enum PostStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case scheduled
    case publishing
    case published
    case partiallyPublished = "partially_published"
    case failed
    case cancelled

    /// - every target cancelled → cancelled;
    /// - a target publishing or retrying, or some published while others still wait → publishing;
    /// - targets still waiting (scheduled, held), none published → scheduled;
    /// - all settled: all (non-cancelled) published → published; some published and some failed or
    ///   unknown → partially_published; none published → failed.
    public static func derive(_ states: [TargetState]) -> PostStatus {
      let live = states.filter { $0 != .cancelled }
      guard !live.isEmpty else { return .cancelled }
      let published = live.contains(.published)
      if live.contains(where: { $0 == .publishing || $0 == .retrying }) { return .publishing }
      if live.contains(where: { $0 == .scheduled || $0 == .held }) { return published ? .publishing : .scheduled }
      let failed = live.contains { $0 == .failed || $0 == .unknown }
      switch (published, failed) {
      case (true, false): return .published
      case (true, true): return .partiallyPublished
      default: return .failed
      }
    }
  }

  // MARK: Documents

  /// One platform's copy of a post.
  public struct Target: Codable, Sendable, Hashable {
    public var platform: Platform
    public var state: TargetState
    /// Attempts started so far (claims by a publisher).
    public var attempts: Int
    /// The platform's id of the published post (Bluesky `at://` URI, Mastodon status id).
    public var platformPostId: String?
    /// Where people see it.
    public var url: String?
    /// Why the last attempt failed, or why the target is held or unknown.
    public var lastError: String?
    /// `retrying`: when the next attempt starts.
    public var nextAttemptAt: Timestamp?
    public var publishedAt: Timestamp?
    public var updatedAt: Timestamp

    public init(
      platform: Platform, state: TargetState, attempts: Int, platformPostId: String? = nil, url: String? = nil,
      lastError: String? = nil, nextAttemptAt: Timestamp? = nil, publishedAt: Timestamp? = nil, updatedAt: Timestamp
    ) {
      self.platform = platform
      self.state = state
      self.attempts = attempts
      self.platformPostId = platformPostId
      self.url = url
      self.lastError = lastError
      self.nextAttemptAt = nextAttemptAt
      self.publishedAt = publishedAt
      self.updatedAt = updatedAt
    }
  }

  public struct Post: Codable, Sendable, Hashable {
    public var id: String
    public var userId: String
    public var text: String
    /// Per-platform text replacing `text` on that platform, keyed by platform name (`"bluesky"`).
    public var overrides: [String: String]
    /// When it goes out (UTC); for "now" posts, the moment they were created.
    public var scheduledAt: Timestamp
    /// The user's IANA zone, for display.
    public var timeZone: String?
    /// `scheduledAt` in `timeZone` with its offset (`2026-12-24T18:30:00+01:00`), for display.
    public var scheduledAtLocal: String?
    public var status: PostStatus
    /// In the order the platforms were chosen.
    public var targets: [Target]
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
      id: String, userId: String, text: String, overrides: [String: String], scheduledAt: Timestamp, timeZone: String?,
      scheduledAtLocal: String?, status: PostStatus, targets: [Target], createdAt: Timestamp, updatedAt: Timestamp
    ) {
      self.id = id
      self.userId = userId
      self.text = text
      self.overrides = overrides
      self.scheduledAt = scheduledAt
      self.timeZone = timeZone
      self.scheduledAtLocal = scheduledAtLocal
      self.status = status
      self.targets = targets
      self.createdAt = createdAt
      self.updatedAt = updatedAt
    }

    /// The target for `platform`, if the post has one.
    public func target(_ platform: Platform) -> Target? { targets.first { $0.platform == platform } }
  }

  // MARK: Requests

  public struct CreatePostRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var text: String
    /// Platform name → text for that platform. Only chosen platforms may have one.
    public var overrides: [String: String]?
    /// At least one; each connected for the user; no duplicates.
    public var platforms: [Platform]
    /// ISO 8601 with an offset, in the future; absent means now.
    public var scheduledAt: String?
    /// IANA zone (`Europe/Berlin`), for display; absent means UTC.
    public var timeZone: String?
    /// Optional: a retried create with the same `requestId` returns the post the first one made.
    public var requestId: String?

    public init(
      userId: String, text: String, overrides: [String: String]? = nil, platforms: [Platform], scheduledAt: String? = nil,
      timeZone: String? = nil, requestId: String? = nil
    ) {
      self.userId = userId
      self.text = text
      self.overrides = overrides
      self.platforms = platforms
      self.scheduledAt = scheduledAt
      self.timeZone = timeZone
      self.requestId = requestId
    }
  }

  public struct GetPostRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var postId: String
    public init(userId: String, postId: String) {
      self.userId = userId
      self.postId = postId
    }
  }

  /// Newest first (by `createdAt`).
  public struct ListPostsRequest: Codable, Sendable, Hashable {
    public var userId: String
    /// Only posts with this overall status.
    public var status: PostStatus?
    /// 1…`Limits.maximumPageSize`; absent means `Limits.defaultPageSize`.
    public var pageSize: Int?
    /// `nextPageToken` of the previous page of the same query.
    public var pageToken: String?

    public init(userId: String, status: PostStatus? = nil, pageSize: Int? = nil, pageToken: String? = nil) {
      self.userId = userId
      self.status = status
      self.pageSize = pageSize
      self.pageToken = pageToken
    }
  }

  public struct ListPostsResponse: Codable, Sendable, Hashable {
    public var posts: [Post]
    /// Absent on the last page.
    public var nextPageToken: String?
    public init(posts: [Post], nextPageToken: String?) {
      self.posts = posts
      self.nextPageToken = nextPageToken
    }
  }

  /// Edits or reschedules a post none of whose targets has started publishing. Absent fields stay
  /// as they are; `overrides`, when present, replaces all overrides.
  public struct UpdatePostRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var postId: String
    public var text: String?
    public var overrides: [String: String]?
    /// The new set of platforms: targets are added (connected platforms only) or removed.
    public var platforms: [Platform]?
    /// A new time (ISO 8601 with offset, in the future).
    public var scheduledAt: String?
    /// True: publish now instead (not with `scheduledAt`).
    public var publishNow: Bool?
    public var timeZone: String?

    public init(
      userId: String, postId: String, text: String? = nil, overrides: [String: String]? = nil, platforms: [Platform]? = nil,
      scheduledAt: String? = nil, publishNow: Bool? = nil, timeZone: String? = nil
    ) {
      self.userId = userId
      self.postId = postId
      self.text = text
      self.overrides = overrides
      self.platforms = platforms
      self.scheduledAt = scheduledAt
      self.publishNow = publishNow
      self.timeZone = timeZone
    }
  }

  /// Cancels the targets not yet published (all of them, or only `platforms`). A target that is
  /// publishing at that moment cannot be stopped: `FAILED_PRECONDITION`.
  public struct CancelPostRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var postId: String
    public var platforms: [Platform]?
    public init(userId: String, postId: String, platforms: [Platform]? = nil) {
      self.userId = userId
      self.postId = postId
      self.platforms = platforms
    }
  }

  /// Retries failed or unknown targets (all of them, or only `platforms`); never a published one.
  /// For an `unknown` target the caller asserts the post is not on the platform.
  public struct RetryPostRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var postId: String
    public var platforms: [Platform]?
    public init(userId: String, postId: String, platforms: [Platform]? = nil) {
      self.userId = userId
      self.postId = postId
      self.platforms = platforms
    }
  }

  // MARK: Methods

  public enum Method {
    /// `INVALID_ARGUMENT` (text too long for a platform, time without offset or in the past,
    /// unknown zone, no platforms); `FAILED_PRECONDITION` (a platform not connected).
    public enum CreatePost: UnaryMethod {
      public typealias Input = CreatePostRequest
      public typealias Output = Post
      public static let descriptor = MethodDescriptor(service: serviceName, method: "CreatePost")
    }

    public enum GetPost: UnaryMethod {
      public typealias Input = GetPostRequest
      public typealias Output = Post
      public static let descriptor = MethodDescriptor(service: serviceName, method: "GetPost", isIdempotent: true)
    }

    public enum ListPosts: UnaryMethod {
      public typealias Input = ListPostsRequest
      public typealias Output = ListPostsResponse
      public static let descriptor = MethodDescriptor(service: serviceName, method: "ListPosts", isIdempotent: true)
    }

    public enum UpdatePost: UnaryMethod {
      public typealias Input = UpdatePostRequest
      public typealias Output = Post
      public static let descriptor = MethodDescriptor(service: serviceName, method: "UpdatePost")
    }

    public enum CancelPost: UnaryMethod {
      public typealias Input = CancelPostRequest
      public typealias Output = Post
      public static let descriptor = MethodDescriptor(service: serviceName, method: "CancelPost", isIdempotent: true)
    }

    public enum RetryPost: UnaryMethod {
      public typealias Input = RetryPostRequest
      public typealias Output = Post
      public static let descriptor = MethodDescriptor(service: serviceName, method: "RetryPost")
    }
  }

  // MARK: Handler side

  public protocol ServiceProtocol: RPCService {
    func createPost(_ request: CreatePostRequest, context: ServerContext) async throws -> Post
    func getPost(_ request: GetPostRequest, context: ServerContext) async throws -> Post
    func listPosts(_ request: ListPostsRequest, context: ServerContext) async throws -> ListPostsResponse
    func updatePost(_ request: UpdatePostRequest, context: ServerContext) async throws -> Post
    func cancelPost(_ request: CancelPostRequest, context: ServerContext) async throws -> Post
    func retryPost(_ request: RetryPostRequest, context: ServerContext) async throws -> Post
  }

  // MARK: Caller side

  public struct Client: Sendable {
    public let rpc: RPCClient
    public init(_ rpc: RPCClient) { self.rpc = rpc }

    public func createPost(_ request: CreatePostRequest, options: CallOptions = CallOptions()) async throws(RPCError) -> Post {
      try await rpc.call(Method.CreatePost.self, request, options: options)
    }

    public func getPost(_ request: GetPostRequest, options: CallOptions = CallOptions()) async throws(RPCError) -> Post {
      try await rpc.call(Method.GetPost.self, request, options: options)
    }

    public func listPosts(
      _ request: ListPostsRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> ListPostsResponse {
      try await rpc.call(Method.ListPosts.self, request, options: options)
    }

    public func updatePost(_ request: UpdatePostRequest, options: CallOptions = CallOptions()) async throws(RPCError) -> Post {
      try await rpc.call(Method.UpdatePost.self, request, options: options)
    }

    public func cancelPost(_ request: CancelPostRequest, options: CallOptions = CallOptions()) async throws(RPCError) -> Post {
      try await rpc.call(Method.CancelPost.self, request, options: options)
    }

    public func retryPost(_ request: RetryPostRequest, options: CallOptions = CallOptions()) async throws(RPCError) -> Post {
      try await rpc.call(Method.RetryPost.self, request, options: options)
    }
  }
}

extension Posts.ServiceProtocol {
  public var serviceName: String { Posts.serviceName }

  public func registerMethods(with router: inout RPCRouter) {
    router.register(Posts.Method.CreatePost.self) { try await self.createPost($0, context: $1) }
    router.register(Posts.Method.GetPost.self) { try await self.getPost($0, context: $1) }
    router.register(Posts.Method.ListPosts.self) { try await self.listPosts($0, context: $1) }
    router.register(Posts.Method.UpdatePost.self) { try await self.updatePost($0, context: $1) }
    router.register(Posts.Method.CancelPost.self) { try await self.cancelPost($0, context: $1) }
    router.register(Posts.Method.RetryPost.self) { try await self.retryPost($0, context: $1) }
  }
}
