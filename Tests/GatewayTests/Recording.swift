import Foundation
import HayonAccount
import HayonAuth
import HayonModel
import HayonPublish
import HayonRPC
import HayonUsers
import Synchronization

/// The real services behind thin wrappers that record each call and its `x-request-id`.
struct RecordingUsers: Users.ServiceProtocol {
  let inner: any Users.ServiceProtocol
  let recorder: CallRecorder
  func note(_ name: String, _ context: ServerContext) { recorder.record("Users.\(name)", context.metadata["x-request-id"]) }

  func signUp(_ request: Users.Credentials, context: ServerContext) async throws -> Users.Session {
    note("SignUp", context)
    return try await inner.signUp(request, context: context)
  }
  func login(_ request: Users.Credentials, context: ServerContext) async throws -> Users.Session {
    note("Login", context)
    return try await inner.login(request, context: context)
  }
  func refresh(_ request: Users.RefreshTokenRequest, context: ServerContext) async throws -> Users.TokenPair {
    note("Refresh", context)
    return try await inner.refresh(request, context: context)
  }
  func logout(_ request: Users.RefreshTokenRequest, context: ServerContext) async throws -> Users.Empty {
    note("Logout", context)
    return try await inner.logout(request, context: context)
  }
  func verifyAccessToken(
    _ request: Users.VerifyAccessTokenRequest, context: ServerContext
  ) async throws -> Users.VerifiedAccessToken {
    note("VerifyAccessToken", context)
    return try await inner.verifyAccessToken(request, context: context)
  }
  func getUser(_ request: Users.GetUserRequest, context: ServerContext) async throws -> Users.User {
    note("GetUser", context)
    return try await inner.getUser(request, context: context)
  }
}

struct RecordingConnections: Connections.ServiceProtocol {
  let inner: any Connections.ServiceProtocol
  let recorder: CallRecorder
  func note(_ name: String, _ context: ServerContext) {
    recorder.record("Connections.\(name)", context.metadata["x-request-id"])
  }

  func beginConnect(
    _ request: Connections.BeginConnectRequest, context: ServerContext
  ) async throws -> Connections.BeginConnectResponse {
    note("BeginConnect", context)
    return try await inner.beginConnect(request, context: context)
  }
  func completeConnect(
    _ request: Connections.CompleteConnectRequest, context: ServerContext
  ) async throws -> Connections.ConnectedAccount {
    note("CompleteConnect", context)
    return try await inner.completeConnect(request, context: context)
  }
  func connectBluesky(
    _ request: Connections.ConnectBlueskyRequest, context: ServerContext
  ) async throws -> Connections.ConnectedAccount {
    note("ConnectBluesky", context)
    return try await inner.connectBluesky(request, context: context)
  }
  func refreshProfile(_ request: Connections.AccountRequest, context: ServerContext) async throws -> Connections.ConnectedAccount {
    note("RefreshProfile", context)
    return try await inner.refreshProfile(request, context: context)
  }
  func disconnect(_ request: Connections.DisconnectRequest, context: ServerContext) async throws -> Connections.DisconnectResponse {
    note("Disconnect", context)
    return try await inner.disconnect(request, context: context)
  }
  func leaseCredential(_ request: Connections.AccountRequest, context: ServerContext) async throws -> Connections.CredentialLease {
    note("LeaseCredential", context)
    return try await inner.leaseCredential(request, context: context)
  }
  func reportCredentialRejected(
    _ request: Connections.ReportCredentialRejectedRequest, context: ServerContext
  ) async throws -> Connections.ReportCredentialRejectedResponse {
    note("ReportCredentialRejected", context)
    return try await inner.reportCredentialRejected(request, context: context)
  }
}

struct RecordingAccounts: Accounts.ServiceProtocol {
  let inner: any Accounts.ServiceProtocol
  let recorder: CallRecorder
  func note(_ name: String, _ context: ServerContext) { recorder.record("Accounts.\(name)", context.metadata["x-request-id"]) }

  func getAccount(_ request: Accounts.GetAccountRequest, context: ServerContext) async throws -> Accounts.SocialAccount {
    note("GetAccount", context)
    return try await inner.getAccount(request, context: context)
  }
  func markConnected(_ request: Accounts.MarkConnectedRequest, context: ServerContext) async throws -> Accounts.SocialAccount {
    note("MarkConnected", context)
    return try await inner.markConnected(request, context: context)
  }
  func markDisconnected(
    _ request: Accounts.MarkDisconnectedRequest, context: ServerContext
  ) async throws -> Accounts.SocialAccount {
    note("MarkDisconnected", context)
    return try await inner.markDisconnected(request, context: context)
  }
  func updateProfile(_ request: Accounts.UpdateProfileRequest, context: ServerContext) async throws -> Accounts.SocialAccount {
    note("UpdateProfile", context)
    return try await inner.updateProfile(request, context: context)
  }
  func recordHealthEvent(
    _ request: Accounts.RecordHealthEventRequest, context: ServerContext
  ) async throws -> Accounts.SocialAccount {
    note("RecordHealthEvent", context)
    return try await inner.recordHealthEvent(request, context: context)
  }
  func listNeedingReconnection(
    _ request: Accounts.ListNeedingReconnectionRequest, context: ServerContext
  ) async throws -> Accounts.ListNeedingReconnectionResponse {
    note("ListNeedingReconnection", context)
    return try await inner.listNeedingReconnection(request, context: context)
  }
}

/// publish-service's contract in memory (the real service is built in parallel): enough to
/// check the gateway's posts routes, ownership (someone else's post is NOT_FOUND) and paging.
final class MemoryPosts: Posts.ServiceProtocol, Sendable {
  let recorder: CallRecorder
  private let store = Mutex<[Posts.Post]>([])
  private let counter = Atomic<Int>(0)
  /// How long `ListPosts` takes (to hold a request in flight).
  let listDelay = Mutex<Duration>(.zero)

  init(recorder: CallRecorder) { self.recorder = recorder }

  func note(_ name: String, _ context: ServerContext) { recorder.record("Posts.\(name)", context.metadata["x-request-id"]) }

  func createPost(_ request: Posts.CreatePostRequest, context: ServerContext) async throws -> Posts.Post {
    note("CreatePost", context)
    guard !request.platforms.isEmpty else { throw RPCError(.invalidArgument, "platforms must name at least one platform") }
    guard !request.text.isEmpty else { throw RPCError(.invalidArgument, "text must not be empty") }
    if let at = request.scheduledAt, at.hasSuffix("Z") == false, !at.contains("+") {
      throw RPCError(.invalidArgument, "scheduledAt has no UTC offset")
    }
    let now = Timestamp(.now)
    let id = "post_\(counter.wrappingAdd(1, ordering: .relaxed).newValue)"
    let post = Posts.Post(
      id: id, userId: request.userId, text: request.text, overrides: request.overrides ?? [:], scheduledAt: now,
      timeZone: request.timeZone, scheduledAtLocal: nil, status: .scheduled,
      targets: request.platforms.map { Posts.Target(platform: $0, state: .scheduled, attempts: 0, updatedAt: now) },
      createdAt: now, updatedAt: now)
    store.withLock { $0.append(post) }
    return post
  }

  func owned(_ userId: String, _ postId: String) throws -> Posts.Post {
    guard let post = store.withLock({ $0.first { $0.id == postId && $0.userId == userId } }) else {
      throw RPCError(.notFound, "no post \(postId)")
    }
    return post
  }

  func getPost(_ request: Posts.GetPostRequest, context: ServerContext) async throws -> Posts.Post {
    note("GetPost", context)
    return try owned(request.userId, request.postId)
  }

  func listPosts(_ request: Posts.ListPostsRequest, context: ServerContext) async throws -> Posts.ListPostsResponse {
    note("ListPosts", context)
    let delay = listDelay.withLock { $0 }
    if delay > .zero { try await Task.sleep(for: delay) }
    let mine = store.withLock { $0.filter { $0.userId == request.userId && (request.status == nil || $0.status == request.status) } }
      .reversed()
    let size = request.pageSize ?? Posts.Limits.defaultPageSize
    let start = Int(request.pageToken ?? "0") ?? 0
    let page = Array(mine.dropFirst(start).prefix(size))
    let next = start + page.count < mine.count ? String(start + page.count) : nil
    return Posts.ListPostsResponse(posts: page, nextPageToken: next)
  }

  func updatePost(_ request: Posts.UpdatePostRequest, context: ServerContext) async throws -> Posts.Post {
    note("UpdatePost", context)
    var post = try owned(request.userId, request.postId)
    if let text = request.text { post.text = text }
    if let zone = request.timeZone { post.timeZone = zone }
    let updated = post
    store.withLock { posts in posts = posts.map { $0.id == updated.id ? updated : $0 } }
    return post
  }

  func cancelPost(_ request: Posts.CancelPostRequest, context: ServerContext) async throws -> Posts.Post {
    note("CancelPost", context)
    var post = try owned(request.userId, request.postId)
    for index in post.targets.indices where request.platforms == nil || request.platforms!.contains(post.targets[index].platform) {
      post.targets[index].state = .cancelled
    }
    post.status = Posts.PostStatus.derive(post.targets.map(\.state))
    let updated = post
    store.withLock { posts in posts = posts.map { $0.id == updated.id ? updated : $0 } }
    return post
  }

  func retryPost(_ request: Posts.RetryPostRequest, context: ServerContext) async throws -> Posts.Post {
    note("RetryPost", context)
    let post = try owned(request.userId, request.postId)
    guard post.targets.contains(where: { $0.state == .failed || $0.state == .unknown }) else {
      throw RPCError(.failedPrecondition, "no failed or unknown target to retry")
    }
    return post
  }
}

struct RecordingPosts: Posts.ServiceProtocol {
  let inner: any Posts.ServiceProtocol
  let recorder: CallRecorder
  func note(_ name: String, _ context: ServerContext) { recorder.record("Posts.\(name)", context.metadata["x-request-id"]) }

  func createPost(_ request: Posts.CreatePostRequest, context: ServerContext) async throws -> Posts.Post {
    note("CreatePost", context)
    return try await inner.createPost(request, context: context)
  }
  func getPost(_ request: Posts.GetPostRequest, context: ServerContext) async throws -> Posts.Post {
    note("GetPost", context)
    return try await inner.getPost(request, context: context)
  }
  func listPosts(_ request: Posts.ListPostsRequest, context: ServerContext) async throws -> Posts.ListPostsResponse {
    note("ListPosts", context)
    return try await inner.listPosts(request, context: context)
  }
  func updatePost(_ request: Posts.UpdatePostRequest, context: ServerContext) async throws -> Posts.Post {
    note("UpdatePost", context)
    return try await inner.updatePost(request, context: context)
  }
  func cancelPost(_ request: Posts.CancelPostRequest, context: ServerContext) async throws -> Posts.Post {
    note("CancelPost", context)
    return try await inner.cancelPost(request, context: context)
  }
  func retryPost(_ request: Posts.RetryPostRequest, context: ServerContext) async throws -> Posts.Post {
    note("RetryPost", context)
    return try await inner.retryPost(request, context: context)
  }
}
