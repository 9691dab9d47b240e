import HayonModel
import HayonRPC

/// `hayon.account.v1.AccountService`: the SocialAccount documents, one per user, and the
/// connection health of each of the user's platforms. auth-service reports connections,
/// disconnections, profiles and health; publish-service reports health; the gateway reads.
///
/// Conventions:
/// - Times are `Timestamp`s: ISO 8601 UTC text with milliseconds (`"2026-12-04T05:00:00.123Z"`).
/// - Optional fields are omitted from the JSON when absent.
/// - Nothing here ever holds a token or any other credential: those stay in auth-service.
/// - Every mutating method returns the whole document as written.
/// - Errors: `INVALID_ARGUMENT` names the offending field (`profile.avatarUrl must be an http(s)
///   URL`) and nothing changes; `FAILED_PRECONDITION` when the platform is not connected for a
///   method that needs it; `UNAUTHENTICATED` without the internal bearer credential.
public enum Accounts {
  public static let serviceName = "hayon.account.v1.AccountService"

  /// Input limits the service enforces (exposed so callers can check before calling).
  public enum Limits {
    /// User ids: 1…64 characters of `[A-Za-z0-9_-]`.
    public static let userIdLength = UserID.maximumLength
    /// `platformId`, `platformFields.did`, `.accountId`, `.blog`, `.facebookPageId`.
    public static let identifierLength = 256
    public static let displayNameLength = 256
    public static let handleLength = 256
    public static let urlLength = 2048
    /// A health event's error message; longer ones are refused.
    public static let errorMessageLength = 2000
    /// `PlatformHealth.lastError` keeps at most this many characters of the message.
    public static let storedErrorLength = 500
    public static let defaultPageSize = 50
    public static let maximumPageSize = 100
  }

  // MARK: Documents

  /// What a platform says about the connected account. Optional fields are those a platform may
  /// not provide (Bluesky's display name, any avatar).
  public struct Profile: Codable, Sendable, Hashable {
    public var displayName: String?
    /// `alice.bsky.social`, `@alice@mastodon.social`, a page name, a blog name.
    public var handle: String
    /// An `http(s)` URL.
    public var avatarUrl: String?

    public init(displayName: String? = nil, handle: String, avatarUrl: String? = nil) {
      self.displayName = displayName
      self.handle = handle
      self.avatarUrl = avatarUrl
    }
  }

  /// Each platform's own identifiers, beyond `platformId`. Exactly the fields of the platform
  /// must be set, all of them, and no others:
  /// - bluesky: `did` (`did:plc:…` / `did:web:…`), `pdsUrl` (the user's PDS, http(s))
  /// - mastodon: `instanceUrl` (http(s)), `accountId`
  /// - tumblr: `blog` (the blog name or hostname posts go to)
  /// - instagram: `facebookPageId` (the Facebook Page the Instagram business account is linked to)
  /// - facebook, threads: none
  public struct PlatformFields: Codable, Sendable, Hashable {
    public var did: String?
    public var pdsUrl: String?
    public var instanceUrl: String?
    public var accountId: String?
    public var blog: String?
    public var facebookPageId: String?

    public init(
      did: String? = nil, pdsUrl: String? = nil, instanceUrl: String? = nil, accountId: String? = nil,
      blog: String? = nil, facebookPageId: String? = nil
    ) {
      self.did = did
      self.pdsUrl = pdsUrl
      self.instanceUrl = instanceUrl
      self.accountId = accountId
      self.blog = blog
      self.facebookPageId = facebookPageId
    }

    public static func bluesky(did: String, pdsUrl: String) -> PlatformFields { PlatformFields(did: did, pdsUrl: pdsUrl) }
    public static func mastodon(instanceUrl: String, accountId: String) -> PlatformFields {
      PlatformFields(instanceUrl: instanceUrl, accountId: accountId)
    }
    public static func tumblr(blog: String) -> PlatformFields { PlatformFields(blog: blog) }
    public static func instagram(facebookPageId: String) -> PlatformFields { PlatformFields(facebookPageId: facebookPageId) }
    public static let none = PlatformFields()

    /// The JSON names of the fields `platform` uses, in declaration order.
    public static func fieldNames(for platform: Platform) -> [String] {
      switch platform {
      case .bluesky: ["did", "pdsUrl"]
      case .mastodon: ["instanceUrl", "accountId"]
      case .tumblr: ["blog"]
      case .instagram: ["facebookPageId"]
      case .facebook, .threads: []
      }
    }

    /// The fields by JSON name, set ones only.
    public var setFields: [(name: String, value: String)] {
      let all: [(String, String?)] = [
        ("did", did), ("pdsUrl", pdsUrl), ("instanceUrl", instanceUrl), ("accountId", accountId),
        ("blog", blog), ("facebookPageId", facebookPageId),
      ]
      return all.compactMap { name, value in value.map { (name, $0) } }
    }
  }

  public enum ConnectionStatus: String, Codable, Sendable, Hashable, CaseIterable {
    /// Working: the last thing that happened was a success (or the connection is fresh).
    case active
    /// The platform says the credential expired and it could not be refreshed.
    case expired
    /// The user or the platform revoked the app's access.
    case revoked
    /// Repeated failures that are not about the credential.
    case error
  }

  /// The health of one connected platform, as the rule table in account-service keeps it.
  public struct PlatformHealth: Codable, Sendable, Hashable {
    public var status: ConnectionStatus
    /// The user must connect the platform again; posting to it is held until then.
    public var needsReconnection: Bool
    /// The last error event's message (at most `Limits.storedErrorLength` characters).
    public var lastError: String?
    public var lastSuccessfulRefresh: Timestamp?
    public var consecutiveFailures: Int
    public var updatedAt: Timestamp

    public init(
      status: ConnectionStatus, needsReconnection: Bool, lastError: String?, lastSuccessfulRefresh: Timestamp?,
      consecutiveFailures: Int, updatedAt: Timestamp
    ) {
      self.status = status
      self.needsReconnection = needsReconnection
      self.lastError = lastError
      self.lastSuccessfulRefresh = lastSuccessfulRefresh
      self.consecutiveFailures = consecutiveFailures
      self.updatedAt = updatedAt
    }

    /// A connection made at `now`: active, nothing failed yet, refreshed at `now`.
    public static func freshConnection(at now: Timestamp) -> PlatformHealth {
      PlatformHealth(
        status: .active, needsReconnection: false, lastError: nil, lastSuccessfulRefresh: now,
        consecutiveFailures: 0, updatedAt: now)
    }
  }

  /// One platform of a user. When `connected` is false, `platformId`, `profile`, `health`,
  /// `platformFields` and `connectedAt` are all absent.
  public struct PlatformAccount: Codable, Sendable, Hashable {
    public var platform: Platform
    public var connected: Bool
    /// The account's id on the platform (Bluesky DID, Mastodon account id, Page id, ...).
    public var platformId: String?
    public var profile: Profile?
    public var health: PlatformHealth?
    public var platformFields: PlatformFields?
    public var connectedAt: Timestamp?

    public init(
      platform: Platform, connected: Bool, platformId: String?, profile: Profile?, health: PlatformHealth?,
      platformFields: PlatformFields?, connectedAt: Timestamp?
    ) {
      self.platform = platform
      self.connected = connected
      self.platformId = platformId
      self.profile = profile
      self.health = health
      self.platformFields = platformFields
      self.connectedAt = connectedAt
    }

    public static func notConnected(_ platform: Platform) -> PlatformAccount {
      PlatformAccount(
        platform: platform, connected: false, platformId: nil, profile: nil, health: nil, platformFields: nil,
        connectedAt: nil)
    }

    /// Connected and its health says it must be connected again.
    public var needsReconnection: Bool { connected && health?.needsReconnection == true }
  }

  /// A user's document. `platforms` always holds all six platforms, in `Platform.allCases` order.
  public struct SocialAccount: Codable, Sendable, Hashable {
    public var userId: String
    public var platforms: [PlatformAccount]

    public init(userId: String, platforms: [PlatformAccount]) {
      self.userId = userId
      self.platforms = platforms
    }

    /// The document of a user with nothing connected.
    public static func empty(userId: String) -> SocialAccount {
      SocialAccount(userId: userId, platforms: Platform.allCases.map(PlatformAccount.notConnected))
    }

    /// The platform's sub-document (a not-connected one if the list lacks it).
    public subscript(platform: Platform) -> PlatformAccount {
      get { platforms.first { $0.platform == platform } ?? .notConnected(platform) }
      set {
        if let index = platforms.firstIndex(where: { $0.platform == platform }) {
          platforms[index] = newValue
        } else {
          platforms.append(newValue)
        }
      }
    }

    /// The same document with exactly one entry per platform, in `Platform.allCases` order.
    public var normalized: SocialAccount {
      SocialAccount(userId: userId, platforms: Platform.allCases.map { self[$0] })
    }
  }

  // MARK: Requests

  public struct GetAccountRequest: Codable, Sendable, Hashable {
    public var userId: String
    public init(userId: String) { self.userId = userId }
  }

  /// Connects (or reconnects, or switches to another account on) a platform. Health starts
  /// fresh: active, no failures, `lastSuccessfulRefresh` = now.
  public struct MarkConnectedRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var platform: Platform
    public var platformId: String
    public var profile: Profile
    public var platformFields: PlatformFields

    public init(userId: String, platform: Platform, platformId: String, profile: Profile, platformFields: PlatformFields = .none) {
      self.userId = userId
      self.platform = platform
      self.platformId = platformId
      self.profile = profile
      self.platformFields = platformFields
    }
  }

  /// Puts the platform's sub-document back to not connected (a no-op if it already is).
  public struct MarkDisconnectedRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var platform: Platform
    public init(userId: String, platform: Platform) {
      self.userId = userId
      self.platform = platform
    }
  }

  /// Replaces the profile of a connected platform.
  public struct UpdateProfileRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var platform: Platform
    public var profile: Profile
    public init(userId: String, platform: Platform, profile: Profile) {
      self.userId = userId
      self.platform = platform
      self.profile = profile
    }
  }

  /// What happened when a service last used the platform's credential.
  ///
  /// JSON: `{"kind":"success"}`, `{"kind":"authExpired"}`, `{"kind":"authRevoked"}`,
  /// `{"kind":"error","message":"..."}`. `message` is required for `error` and refused for the
  /// others. Pass a classified description (`"HTTP 503 from the PDS"`), never a platform's raw
  /// response body, which may echo credentials.
  public enum HealthEvent: Codable, Sendable, Hashable {
    case success
    case authExpired
    case authRevoked
    case error(message: String)

    public enum Kind: String, Codable, Sendable, Hashable, CaseIterable {
      case success, authExpired, authRevoked, error
    }

    public var kind: Kind {
      switch self {
      case .success: .success
      case .authExpired: .authExpired
      case .authRevoked: .authRevoked
      case .error: .error
      }
    }

    private enum CodingKeys: String, CodingKey { case kind, message }

    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      let kind = try container.decode(Kind.self, forKey: .kind)
      let message = try container.decodeIfPresent(String.self, forKey: .message)
      switch (kind, message) {
      case (.error, let message?): self = .error(message: message)
      case (.error, nil):
        throw DecodingError.keyNotFound(
          CodingKeys.message, DecodingError.Context(codingPath: container.codingPath, debugDescription: "an error event needs a message"))
      case (_, _?):
        throw DecodingError.dataCorruptedError(
          forKey: .message, in: container, debugDescription: "only error events carry a message")
      case (.success, nil): self = .success
      case (.authExpired, nil): self = .authExpired
      case (.authRevoked, nil): self = .authRevoked
      }
    }

    public func encode(to encoder: any Encoder) throws {
      var container = encoder.container(keyedBy: CodingKeys.self)
      try container.encode(kind, forKey: .kind)
      if case .error(let message) = self { try container.encode(message, forKey: .message) }
    }
  }

  public struct RecordHealthEventRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var platform: Platform
    public var event: HealthEvent
    public init(userId: String, platform: Platform, event: HealthEvent) {
      self.userId = userId
      self.platform = platform
      self.event = event
    }
  }

  /// Users with a connected platform that needs reconnection (only `platform`, when given), in
  /// user id order.
  public struct ListNeedingReconnectionRequest: Codable, Sendable, Hashable {
    public var platform: Platform?
    /// 1…`Limits.maximumPageSize`; absent means `Limits.defaultPageSize`.
    public var pageSize: Int?
    /// `nextPageToken` of the previous page of the same query (same `platform`).
    public var pageToken: String?

    public init(platform: Platform? = nil, pageSize: Int? = nil, pageToken: String? = nil) {
      self.platform = platform
      self.pageSize = pageSize
      self.pageToken = pageToken
    }
  }

  public struct ListNeedingReconnectionResponse: Codable, Sendable, Hashable {
    /// Whole documents; the platforms to reconnect are those with `needsReconnection`.
    public var accounts: [SocialAccount]
    /// Absent on the last page.
    public var nextPageToken: String?

    public init(accounts: [SocialAccount], nextPageToken: String?) {
      self.accounts = accounts
      self.nextPageToken = nextPageToken
    }
  }

  // MARK: Methods

  public enum Method {
    /// The user's document; a user with nothing connected gets all six platforms not connected.
    public enum GetAccount: UnaryMethod {
      public typealias Input = GetAccountRequest
      public typealias Output = SocialAccount
      public static let descriptor = MethodDescriptor(service: serviceName, method: "GetAccount", isIdempotent: true)
    }

    public enum MarkConnected: UnaryMethod {
      public typealias Input = MarkConnectedRequest
      public typealias Output = SocialAccount
      public static let descriptor = MethodDescriptor(service: serviceName, method: "MarkConnected", isIdempotent: true)
    }

    public enum MarkDisconnected: UnaryMethod {
      public typealias Input = MarkDisconnectedRequest
      public typealias Output = SocialAccount
      public static let descriptor = MethodDescriptor(service: serviceName, method: "MarkDisconnected", isIdempotent: true)
    }

    /// `FAILED_PRECONDITION` if the platform is not connected.
    public enum UpdateProfile: UnaryMethod {
      public typealias Input = UpdateProfileRequest
      public typealias Output = SocialAccount
      public static let descriptor = MethodDescriptor(service: serviceName, method: "UpdateProfile", isIdempotent: true)
    }

    /// Not idempotent: each error event counts as one more consecutive failure.
    /// `FAILED_PRECONDITION` if the platform is not connected.
    public enum RecordHealthEvent: UnaryMethod {
      public typealias Input = RecordHealthEventRequest
      public typealias Output = SocialAccount
      public static let descriptor = MethodDescriptor(service: serviceName, method: "RecordHealthEvent", isIdempotent: false)
    }

    public enum ListNeedingReconnection: UnaryMethod {
      public typealias Input = ListNeedingReconnectionRequest
      public typealias Output = ListNeedingReconnectionResponse
      public static let descriptor = MethodDescriptor(
        service: serviceName, method: "ListNeedingReconnection", isIdempotent: true)
    }
  }

  // MARK: Handler side

  public protocol ServiceProtocol: RPCService {
    func getAccount(_ request: GetAccountRequest, context: ServerContext) async throws -> SocialAccount
    /// What GetAccount answers over RPC: `getAccount`'s document, with its encoding when the
    /// service keeps one (the default encodes it for each call).
    func getAccountReply(_ request: GetAccountRequest, context: ServerContext) async throws -> UnaryReply<SocialAccount>
    func markConnected(_ request: MarkConnectedRequest, context: ServerContext) async throws -> SocialAccount
    func markDisconnected(_ request: MarkDisconnectedRequest, context: ServerContext) async throws -> SocialAccount
    func updateProfile(_ request: UpdateProfileRequest, context: ServerContext) async throws -> SocialAccount
    func recordHealthEvent(_ request: RecordHealthEventRequest, context: ServerContext) async throws -> SocialAccount
    func listNeedingReconnection(
      _ request: ListNeedingReconnectionRequest, context: ServerContext
    ) async throws -> ListNeedingReconnectionResponse
  }

  // MARK: Caller side

  public struct Client: Sendable {
    public let rpc: RPCClient
    public init(_ rpc: RPCClient) { self.rpc = rpc }

    public func getAccount(_ request: GetAccountRequest, options: CallOptions = CallOptions()) async throws(RPCError) -> SocialAccount {
      try await rpc.call(Method.GetAccount.self, request, options: options)
    }

    public func markConnected(
      _ request: MarkConnectedRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> SocialAccount {
      try await rpc.call(Method.MarkConnected.self, request, options: options)
    }

    public func markDisconnected(
      _ request: MarkDisconnectedRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> SocialAccount {
      try await rpc.call(Method.MarkDisconnected.self, request, options: options)
    }

    public func updateProfile(
      _ request: UpdateProfileRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> SocialAccount {
      try await rpc.call(Method.UpdateProfile.self, request, options: options)
    }

    public func recordHealthEvent(
      _ request: RecordHealthEventRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> SocialAccount {
      try await rpc.call(Method.RecordHealthEvent.self, request, options: options)
    }

    public func listNeedingReconnection(
      _ request: ListNeedingReconnectionRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> ListNeedingReconnectionResponse {
      try await rpc.call(Method.ListNeedingReconnection.self, request, options: options)
    }
  }
}

extension Accounts.ServiceProtocol {
  public var serviceName: String { Accounts.serviceName }

  public func getAccountReply(
    _ request: Accounts.GetAccountRequest, context: ServerContext
  ) async throws -> UnaryReply<Accounts.SocialAccount> {
    UnaryReply(try await getAccount(request, context: context))
  }

  public func registerMethods(with router: inout RPCRouter) {
    router.register(Accounts.Method.GetAccount.self, responding: { try await self.getAccountReply($0, context: $1) })
    router.register(Accounts.Method.MarkConnected.self) { try await self.markConnected($0, context: $1) }
    router.register(Accounts.Method.MarkDisconnected.self) { try await self.markDisconnected($0, context: $1) }
    router.register(Accounts.Method.UpdateProfile.self) { try await self.updateProfile($0, context: $1) }
    router.register(Accounts.Method.RecordHealthEvent.self) { try await self.recordHealthEvent($0, context: $1) }
    router.register(Accounts.Method.ListNeedingReconnection.self) { try await self.listNeedingReconnection($0, context: $1) }
  }
}
