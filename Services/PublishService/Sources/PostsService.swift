import Foundation
import HayonAccount
import HayonCrypto
import HayonModel
import HayonPlatforms
import HayonPublish
import HayonRPC
import HayonRuntime
import HayonStore

/// The `hayon.publish.v1.Posts` implementation: validates, checks the user's connections with
/// account-service, and writes posts and targets. Publishing itself is the `Scheduler`'s job.
public struct PostsService: Posts.ServiceProtocol {
  let store: PublishStore
  let accounts: Accounts.Client
  let limits: InstanceLimits
  let configuration: PublishConfiguration
  let clock: any WallClock
  let logger: Logger

  public init(
    store: PublishStore, accounts: Accounts.Client, http: any PlatformHTTPClient, configuration: PublishConfiguration,
    clock: any WallClock = SystemWallClock(), logger: Logger = Logger(label: "publish-posts")
  ) {
    self.store = store
    self.accounts = accounts
    self.configuration = configuration
    self.clock = clock
    self.logger = logger
    limits = InstanceLimits(
      client: MastodonClient(http: http, clock: clock), policy: configuration.hostPolicy, ttl: configuration.instanceLimitTTL,
      clock: clock)
  }

  // MARK: Create

  public func createPost(_ request: Posts.CreatePostRequest, context: ServerContext) async throws -> Posts.Post {
    let now = clock.now
    try PostInput.userId(request.userId)
    try PostInput.text(request.text)
    try PostInput.platforms(request.platforms)
    let overrides = request.overrides ?? [:]
    try PostInput.overrides(overrides, platforms: request.platforms)
    let dueAt = try request.scheduledAt.map { text throws(RPCError) in
      try PostInput.scheduledAt(text, now: now, maximumAhead: configuration.maximumScheduleAhead)
    } ?? now
    let zone = try PostInput.timeZone(request.timeZone)
    try PostInput.requestId(request.requestId)

    let postId: String
    if let requestId = request.requestId {
      postId = "p" + Self.hex(Digest.sha256(Array("\(request.userId)\u{0}\(requestId)".utf8)).prefix(12))
      if let existing = try await read({ try await store.post(id: postId) }), existing.value.userId == request.userId {
        return try await contract(existing)
      }
    } else {
      postId = "p" + Self.hex(SecureRandom.bytes(12))
    }

    let account = try await account(userId: request.userId)
    let held = try await check(
      platforms: request.platforms, text: request.text, overrides: overrides, account: account, existing: [])
    let post = PostRecord(
      userId: request.userId, text: request.text, overrides: overrides, platforms: request.platforms, scheduledAt: dueAt,
      timeZone: zone == nil ? nil : request.timeZone, status: .scheduled, createdAt: now, updatedAt: now, requestId: request.requestId)
    let targets = request.platforms.map { platform in
      TargetMachine.new(
        postId: postId, userId: request.userId, platform: platform, dueAt: dueAt, held: held[platform] ?? nil,
        idempotencyKey: Self.hex(SecureRandom.bytes(16)), now: now)
    }
    let created: Stored<PostRecord>
    do {
      created = try await store.transaction { transaction in try transaction.insert(post: post, id: postId, targets: targets) }
    } catch StoreError.alreadyExists {
      // The same requestId raced: the first one's post is the answer.
      if let existing = try await read({ try await store.post(id: postId) }), existing.value.userId == request.userId {
        return try await contract(existing)
      }
      throw PublishErrors.invalid("requestId", "is already used")
    } catch {
      throw failure(error, context)
    }
    logger.info(
      "post created",
      ["userId": request.userId, "postId": postId, "platforms": request.platforms.map(\.rawValue).joined(separator: ","),
       "dueAt": Timestamp(dueAt).iso8601])
    // What was just written is the answer: no second read.
    return Self.contract(created, targets: targets)
  }

  // MARK: Read

  public func getPost(_ request: Posts.GetPostRequest, context: ServerContext) async throws -> Posts.Post {
    try PostInput.userId(request.userId)
    try PostInput.postId(request.postId)
    guard let post = try await read({ try await store.post(id: request.postId) }), post.value.userId == request.userId else {
      throw PublishErrors.postNotFound
    }
    return try await contract(post)
  }

  public func listPosts(_ request: Posts.ListPostsRequest, context: ServerContext) async throws -> Posts.ListPostsResponse {
    try PostInput.userId(request.userId)
    let size = try PostInput.pageSize(request.pageSize)
    if let token = request.pageToken, token.isEmpty || token.utf8.count > 2048 {
      throw PublishErrors.invalid("pageToken", "is not a token from a previous page of this query")
    }
    let page = try await read {
      try await store.posts(
        userId: request.userId, status: request.status, limit: size, after: request.pageToken.map(PageCursor.init(token:)))
    }
    var posts: [Posts.Post] = []
    for post in page.items { posts.append(try await contract(post)) }
    return Posts.ListPostsResponse(posts: posts, nextPageToken: page.next?.token)
  }

  // MARK: Edit

  public func updatePost(_ request: Posts.UpdatePostRequest, context: ServerContext) async throws -> Posts.Post {
    let now = clock.now
    try PostInput.userId(request.userId)
    try PostInput.postId(request.postId)
    if let text = request.text { try PostInput.text(text) }
    if let platforms = request.platforms { try PostInput.platforms(platforms) }
    if request.publishNow == true, request.scheduledAt != nil {
      throw PublishErrors.invalid("publishNow", "cannot be combined with scheduledAt")
    }
    let newDue = try request.scheduledAt.map { text throws(RPCError) in
      try PostInput.scheduledAt(text, now: now, maximumAhead: configuration.maximumScheduleAhead)
    } ?? (request.publishNow == true ? now : nil)
    let zone = try PostInput.timeZone(request.timeZone)

    guard let current = try await read({ try await store.post(id: request.postId) }), current.value.userId == request.userId else {
      throw PublishErrors.postNotFound
    }
    var post = current.value
    let platforms = request.platforms ?? post.platforms
    if let requested = request.overrides { try PostInput.overrides(requested, platforms: platforms) }
    let overrides = (request.overrides ?? post.overrides).filter { key, _ in platforms.contains { $0.rawValue == key } }
    post.text = request.text ?? post.text
    post.overrides = overrides
    post.platforms = platforms
    if let newDue { post.scheduledAt = newDue }
    if zone != nil { post.timeZone = request.timeZone }  // as named: Foundation calls "UTC" "GMT"
    post.updatedAt = now

    let account = try await account(userId: request.userId)
    let held = try await check(
      platforms: platforms, text: post.text, overrides: overrides, account: account, existing: current.value.platforms)
    let edited = post
    let version = current.version
    let postId = request.postId
    let updated: Stored<PostRecord>
    let targets: [TargetRecord]
    do {
      (updated, targets) = try await store.transaction { transaction throws in
        guard let stored = try transaction.post(id: postId), stored.version == version else {
          throw RPCError(.aborted, "the post changed meanwhile; read it again and retry")
        }
        let targets = try transaction.targets(postId: postId)
        if let busy = targets.first(where: { !TargetMachine.isEditable($0.value) }) {
          throw PublishErrors.wrongState(
            "the post can no longer be edited: \(busy.value.platform.displayName) is \(busy.value.state.rawValue)")
        }
        if targets.allSatisfy({ $0.value.state == .cancelled }) {
          throw PublishErrors.wrongState("the post is cancelled")
        }
        for target in targets where !edited.platforms.contains(target.value.platform) {
          try transaction.delete(target)
        }
        for var target in targets where edited.platforms.contains(target.value.platform) {
          guard target.value.dueAt != edited.scheduledAt else { continue }
          target.value = TargetMachine.reschedule(target.value, dueAt: edited.scheduledAt, now: now)
          try transaction.write(target)
        }
        for platform in edited.platforms where !targets.contains(where: { $0.value.platform == platform }) {
          try transaction.insert(
            TargetMachine.new(
              postId: postId, userId: edited.userId, platform: platform, dueAt: edited.scheduledAt, held: held[platform] ?? nil,
              idempotencyKey: Self.hex(SecureRandom.bytes(16)), now: now))
        }
        try transaction.write(Stored(id: postId, version: version, value: edited))
        return try Self.refreshed(transaction, postId: postId, now: now)
      }
    } catch {
      throw failure(error, context)
    }
    logger.info("post edited", ["userId": request.userId, "postId": postId])
    return Self.contract(updated, targets: targets)
  }

  // MARK: Cancel, retry

  public func cancelPost(_ request: Posts.CancelPostRequest, context: ServerContext) async throws -> Posts.Post {
    let now = clock.now
    try PostInput.userId(request.userId)
    try PostInput.postId(request.postId)
    let only = try PostInput.platformFilter(request.platforms)
    let userId = request.userId
    let postId = request.postId
    let cancelled: Stored<PostRecord>
    let targets: [TargetRecord]
    do {
      (cancelled, targets) = try await store.transaction { transaction throws in
        guard let post = try transaction.post(id: postId), post.value.userId == userId else { throw PublishErrors.postNotFound }
        let targets = try Self.select(try transaction.targets(postId: postId), only: only)
        var changed = false
        for var target in targets {
          do {
            guard let next = try TargetMachine.cancel(target.value, now: now) else {
              if only != nil, target.value.state == .published {
                throw PublishErrors.wrongState("\(target.value.platform.displayName) is already published")
              }
              continue
            }
            target.value = next
            try transaction.write(target)
            changed = true
          } catch let refusal as TargetMachine.Refusal {
            _ = refusal
            throw PublishErrors.wrongState(
              "\(target.value.platform.displayName) is publishing right now and can no longer be cancelled")
          }
        }
        if !changed, !targets.contains(where: { $0.value.state == .cancelled }) {
          throw PublishErrors.wrongState("nothing to cancel: the post is already published")
        }
        return try Self.refreshed(transaction, postId: postId, now: now)
      }
    } catch {
      throw failure(error, context)
    }
    logger.info("post cancelled", ["userId": userId, "postId": postId])
    return Self.contract(cancelled, targets: targets)
  }

  public func retryPost(_ request: Posts.RetryPostRequest, context: ServerContext) async throws -> Posts.Post {
    let now = clock.now
    try PostInput.userId(request.userId)
    try PostInput.postId(request.postId)
    let only = try PostInput.platformFilter(request.platforms)
    let userId = request.userId
    let postId = request.postId
    let retried: Stored<PostRecord>
    let targets: [TargetRecord]
    do {
      (retried, targets) = try await store.transaction { transaction throws in
        guard let post = try transaction.post(id: postId), post.value.userId == userId else { throw PublishErrors.postNotFound }
        var targets = try Self.select(try transaction.targets(postId: postId), only: only)
        if only == nil { targets = targets.filter { $0.value.state == .failed || $0.value.state == .unknown } }
        guard !targets.isEmpty else { throw PublishErrors.wrongState("no failed or unknown targets to retry") }
        for var target in targets {
          do {
            target.value = try TargetMachine.retry(target.value, now: now)
          } catch {
            throw PublishErrors.wrongState(
              "\(target.value.platform.displayName) is \(target.value.state.rawValue); only failed or unknown targets can be retried")
          }
          try transaction.write(target)
        }
        return try Self.refreshed(transaction, postId: postId, now: now)
      }
    } catch {
      throw failure(error, context)
    }
    logger.info("post retried", ["userId": userId, "postId": postId])
    return Self.contract(retried, targets: targets)
  }

  // MARK: Helpers

  /// The post's status brought up to date at the end of a change, with all its targets: what the
  /// transaction read last is the answer, so the caller does not read both again afterwards.
  static func refreshed(
    _ transaction: PublishTransaction, postId: String, now: Date
  ) throws -> (post: Stored<PostRecord>, targets: [TargetRecord]) {
    guard let refreshed = try transaction.refreshStatus(postId: postId, now: now) else { throw PublishErrors.postNotFound }
    return refreshed
  }

  /// The targets named by `only` (each must be one of the post's), or all.
  static func select(_ targets: [Stored<TargetRecord>], only: Set<Platform>?) throws(RPCError) -> [Stored<TargetRecord>] {
    guard let only else { return targets }
    for platform in only.sorted(by: { $0.rawValue < $1.rawValue }) where !targets.contains(where: { $0.value.platform == platform }) {
      throw PublishErrors.invalid("platforms", "names \(platform.rawValue), which this post does not go to")
    }
    return targets.filter { only.contains($0.value.platform) }
  }

  /// Connection and text checks for the final text of every platform; returns, per platform, the
  /// reason its target starts held (connected but needing reconnection), or nil.
  func check(
    platforms: [Platform], text: String, overrides: [String: String], account: Accounts.SocialAccount, existing: [Platform]
  ) async throws(RPCError) -> [Platform: String?] {
    var held: [Platform: String?] = [:]
    for platform in platforms {
      let linked = account[platform]
      if !linked.connected {
        // An existing target may stay (it will be held); a new one needs the connection.
        guard existing.contains(platform) else { throw PublishErrors.notConnected(platform) }
      }
      held[platform] = linked.needsReconnection ? "\(platform.displayName) needs to be connected again" : nil
      let maximum: Int? =
        platform == .mastodon ? await limits.maximum(instanceUrl: linked.platformFields?.instanceUrl) : nil
      guard let rule = TextRules.rule(for: platform, mastodonMaximum: maximum) else { throw PublishErrors.notAvailable(platform) }
      let field = overrides[platform.rawValue] == nil ? "text" : "overrides.\(platform.rawValue)"
      if let problem = rule.problem(with: overrides[platform.rawValue] ?? text) {
        throw PublishErrors.invalid(field, problem)
      }
    }
    return held
  }

  func account(userId: String) async throws(RPCError) -> Accounts.SocialAccount {
    do {
      return try await accounts.getAccount(Accounts.GetAccountRequest(userId: userId))
    } catch {
      logger.warning("account-service lookup failed", ["userId": userId, "code": error.code.name])
      throw PublishErrors.accountsUnavailable
    }
  }

  func read<T>(_ body: () async throws -> T) async throws(RPCError) -> T {
    do {
      return try await body()
    } catch {
      throw PublishErrors.storage(error)
    }
  }

  func failure(_ error: any Error, _ context: ServerContext) -> RPCError {
    if let error = error as? RPCError { return error }
    let status = PublishErrors.storage(error)
    logger.error("store failure", ["rpc.method": context.method.method, "cause": "\(error)", "status": status.code.name])
    return status
  }

  func contract(_ post: Stored<PostRecord>) async throws(RPCError) -> Posts.Post {
    let targets = try await read { try await store.targets(postId: post.id) }
    return Self.contract(post, targets: targets.map(\.value))
  }

  static func contract(_ post: Stored<PostRecord>, targets: [TargetRecord]) -> Posts.Post {
    let value = post.value
    let ordered = value.platforms.compactMap { platform in targets.first { $0.platform == platform } }
    let zone = value.timeZone.flatMap(TimeZone.init(identifier:))
    return Posts.Post(
      id: post.id, userId: value.userId, text: value.text, overrides: value.overrides,
      scheduledAt: Timestamp(value.scheduledAt), timeZone: value.timeZone,
      scheduledAtLocal: zone.map { PostInput.localTime(value.scheduledAt, in: $0) },
      status: Posts.PostStatus.derive(ordered.map(\.state)), targets: ordered.map(\.contract),
      createdAt: Timestamp(value.createdAt), updatedAt: Timestamp(value.updatedAt))
  }

  static func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef")
    var text = ""
    for byte in bytes {
      text.append(digits[Int(byte >> 4)])
      text.append(digits[Int(byte & 0x0F)])
    }
    return text
  }
}
