import Foundation
import HayonModel
import HayonPublish
import HayonStore

/// publish-service's database: `posts` and `targets` (see `PostRecord`, `TargetRecord`). Every
/// change to targets goes through one transaction that also rewrites the post's derived status.
public struct PublishStore: Sendable {
  static let posts = "posts"
  static let targets = "targets"

  public static let schema = StoreSchema(collections: [
    CollectionSchema(
      posts, indexing: [.string("userId"), .date("createdAt"), .string("status")],
      compoundIndexes: [["userId", "createdAt"], ["userId", "status", "createdAt"]]),
    CollectionSchema(
      targets,
      indexing: [
        .string("postId"), .string("platform"), .date("wakeAt"), .string("state"), .date("leaseUntil"), .string("account"),
      ],
      compoundIndexes: [["platform", "wakeAt"], ["state", "leaseUntil"], ["account", "state"]]),
  ])

  public let store: any DocumentStore

  public init(store: any DocumentStore) { self.store = store }

  // MARK: Reads

  func post(id: String) async throws -> Stored<PostRecord>? {
    try await store.get(PostRecord.self, from: Self.posts, id: id)
  }

  func targets(postId: String) async throws -> [Stored<TargetRecord>] {
    try await store.query(TargetRecord.self, from: Self.targets, where: [Field("postId") == .string(postId)], limit: 20).items
  }

  /// A page of a user's posts, newest first.
  func posts(userId: String, status: Posts.PostStatus?, limit: Int, after cursor: PageCursor?) async throws -> Page<Stored<PostRecord>> {
    var conditions = [Field("userId") == .string(userId)]
    if let status { conditions.append(Field("status") == .string(status.rawValue)) }
    return try await store.query(
      PostRecord.self, from: Self.posts, where: conditions, orderBy: [.descending("createdAt")], limit: limit, after: cursor)
  }

  // MARK: Transactions

  /// Runs `body` in one transaction with helpers that keep the posts' statuses in step.
  func transaction<Result: Sendable>(_ body: sending @escaping (PublishTransaction) throws -> Result) async throws -> Result {
    try await store.transaction { transaction in try body(PublishTransaction(transaction: transaction)) }
  }
}

/// The store operations inside one transaction.
struct PublishTransaction {
  let transaction: any DocumentTransaction

  func post(id: String) throws -> Stored<PostRecord>? {
    try transaction.get(PostRecord.self, from: PublishStore.posts, id: id)
  }

  func targets(postId: String) throws -> [Stored<TargetRecord>] {
    try transaction.query(TargetRecord.self, from: PublishStore.targets, where: [Field("postId") == .string(postId)], limit: 20).items
  }

  /// Inserts a new post and its targets; returns the post as stored (with its derived status).
  @discardableResult
  func insert(post: PostRecord, id: String, targets: [TargetRecord]) throws -> Stored<PostRecord> {
    var post = post
    post.status = Posts.PostStatus.derive(targets.map(\.state))
    let stored = try transaction.insert(post, into: PublishStore.posts, id: id)
    for target in targets {
      try transaction.insert(target, into: PublishStore.targets, id: TargetRecord.id(postId: id, platform: target.platform))
    }
    return stored
  }

  func write(_ target: Stored<TargetRecord>) throws {
    try transaction.update(target, in: PublishStore.targets)
  }

  func insert(_ target: TargetRecord) throws {
    try transaction.insert(target, into: PublishStore.targets, id: TargetRecord.id(postId: target.postId, platform: target.platform))
  }

  func delete(_ target: Stored<TargetRecord>) throws {
    try transaction.delete(PublishStore.targets, id: target.id, expectedVersion: target.version)
  }

  /// Writes back a post read earlier; returns it at its new version.
  @discardableResult
  func write(_ post: Stored<PostRecord>) throws -> Stored<PostRecord> {
    try transaction.update(post, in: PublishStore.posts)
  }

  /// Rewrites the post's status from its targets (when it changed), and its `updatedAt`.
  /// Returns the post as it now stands and the targets it read (nil when there is no such post),
  /// so a caller answering with the post need not read both again.
  @discardableResult
  func refreshStatus(postId: String, now: Date) throws -> (post: Stored<PostRecord>, targets: [TargetRecord])? {
    guard var post = try post(id: postId) else { return nil }
    let targets = try targets(postId: postId).map(\.value)
    let status = Posts.PostStatus.derive(targets.map(\.state))
    guard status != post.value.status else { return (post, targets) }
    post.value.status = status
    post.value.updatedAt = now
    return (try write(post), targets)
  }

  func query(_ conditions: [Condition], orderBy order: [SortKey] = [], limit: Int) throws -> [Stored<TargetRecord>] {
    try transaction.query(TargetRecord.self, from: PublishStore.targets, where: conditions, orderBy: order, limit: limit).items
  }
}
