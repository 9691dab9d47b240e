import HayonModel
import HayonRPC

/// `hayon.auth.v1.Connections`: linking a Hayon user's social accounts. auth-service runs the
/// platform sign-in flows (Bluesky app passwords, Mastodon OAuth on any instance), keeps the
/// resulting credentials sealed in its token vault, reports connections, profiles and health to
/// account-service, and hands publish-service short leases of valid credentials.
///
/// Conventions:
/// - Only `LeaseCredential` ever returns a credential. Nothing else (responses, errors, logs)
///   carries a token, password, PKCE verifier or authorization code.
/// - The user a callback links is the one stored with the flow's `state`, never one named by
///   the request (`CompleteConnect` has no user id field on purpose).
/// - Platforms without a flow yet answer `UNIMPLEMENTED` ("Tumblr is not available yet").
/// - `INVALID_ARGUMENT` names the offending field and nothing changes.
/// - An account that must be connected again answers `FAILED_PRECONDITION` with trailing
///   metadata `hayon-error-reason: needs-reconnection` (see `ErrorReason`).
public enum Connections {
  public static let serviceName = "hayon.auth.v1.Connections"

  /// Input limits the service enforces.
  public enum Limits {
    /// User ids: 1…64 characters of `[A-Za-z0-9_-]` (the same rule as account-service).
    public static let userIdLength = UserID.maximumLength
    /// Bluesky handles, DIDs or emails.
    public static let identifierLength = 256
    /// Longer than any app password (19) or account password worth trying.
    public static let passwordLength = 256
    public static let instanceUrlLength = 2048
    public static let stateLength = 128
    public static let codeLength = 1024
    /// An OAuth error or error description from the callback; longer ones are refused.
    public static let callbackErrorLength = 1000
    /// `ReportCredentialRejected.detail`.
    public static let detailLength = 500
  }

  /// Machine-readable reasons in the `hayon-error-reason` trailer of an error.
  public enum ErrorReason: String, Codable, Sendable, Hashable, CaseIterable {
    /// `FAILED_PRECONDITION`: the credential is gone, expired or revoked; the user must connect
    /// the platform again. publish-service holds the post until then.
    case needsReconnection = "needs-reconnection"
    /// `FAILED_PRECONDITION`: the platform is not connected at all.
    case notConnected = "not-connected"
    /// `FAILED_PRECONDITION`: the Bluesky account demands an emailed sign-in code.
    case signInCodeRequired = "sign-in-code-required"
    /// `RESOURCE_EXHAUSTED`: the platform rate-limited the call; see `retryAfterMetadataKey`.
    case rateLimited = "rate-limited"

    /// The trailing-metadata key carrying the reason.
    public static let metadataKey = "hayon-error-reason"
    /// With `rateLimited`: when to try again, ISO 8601 UTC (absent when the platform did not say).
    public static let retryAfterMetadataKey = "hayon-retry-after"

    /// The reason an `RPCError` carries, if any.
    public init?(of error: RPCError) {
      guard let text = error.metadata[Self.metadataKey] else { return nil }
      self.init(rawValue: text)
    }
  }

  // MARK: Messages

  /// Starts an OAuth flow for the user. Bluesky has no browser flow: use `ConnectBluesky`.
  public struct BeginConnectRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var platform: Platform
    /// Mastodon: the instance to connect (`https://mastodon.social`, or just
    /// `mastodon.social`); absent means the deployment's default instance.
    public var instanceUrl: String?

    public init(userId: String, platform: Platform, instanceUrl: String? = nil) {
      self.userId = userId
      self.platform = platform
      self.instanceUrl = instanceUrl
    }
  }

  public struct BeginConnectResponse: Codable, Sendable, Hashable {
    /// Where to send the user's browser. It carries the flow's `state`.
    public var authorizeUrl: String
    /// The flow must be completed before this instant.
    public var expiresAt: Timestamp

    public init(authorizeUrl: String, expiresAt: Timestamp) {
      self.authorizeUrl = authorizeUrl
      self.expiresAt = expiresAt
    }
  }

  /// What the platform's redirect to `/api/platform/{platform}/callback` carried.
  public struct CompleteConnectRequest: Codable, Sendable, Hashable {
    public var platform: Platform
    /// Absent or empty → `INVALID_ARGUMENT`; unknown, used or expired → `PERMISSION_DENIED`.
    public var state: String?
    /// Present on success.
    public var code: String?
    /// Present when the user or the platform refused (`access_denied`, ...).
    public var error: String?
    public var errorDescription: String?

    public init(platform: Platform, state: String?, code: String?, error: String? = nil, errorDescription: String? = nil) {
      self.platform = platform
      self.state = state
      self.code = code
      self.error = error
      self.errorDescription = errorDescription
    }
  }

  /// The account as linked (no credential).
  public struct ConnectedAccount: Codable, Sendable, Hashable {
    /// The Hayon user the account now belongs to.
    public var userId: String
    public var platform: Platform
    /// The account's id on the platform (Bluesky DID, Mastodon account id).
    public var platformId: String
    /// `alice.bsky.social`, `@alice@mastodon.social`.
    public var handle: String
    public var displayName: String?
    public var avatarUrl: String?

    public init(
      userId: String, platform: Platform, platformId: String, handle: String, displayName: String?, avatarUrl: String?
    ) {
      self.userId = userId
      self.platform = platform
      self.platformId = platformId
      self.handle = handle
      self.displayName = displayName
      self.avatarUrl = avatarUrl
    }
  }

  /// Signs in to Bluesky with an app password (`xxxx-xxxx-xxxx-xxxx`).
  public struct ConnectBlueskyRequest: Codable, Sendable, Hashable, CustomStringConvertible,
    CustomDebugStringConvertible, CustomReflectable
  {
    public var userId: String
    /// Handle (`alice.bsky.social`, a leading `@` is dropped), DID or email.
    public var identifier: String
    public var appPassword: String

    public init(userId: String, identifier: String, appPassword: String) {
      self.userId = userId
      self.identifier = identifier
      self.appPassword = appPassword
    }

    // The password must not reach a log through string interpolation or `dump`.
    public var description: String { "ConnectBlueskyRequest(userId: \(userId), identifier: \(identifier), appPassword: redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["userId": userId, "identifier": identifier]) }
  }

  public struct AccountRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var platform: Platform

    public init(userId: String, platform: Platform) {
      self.userId = userId
      self.platform = platform
    }
  }

  public struct DisconnectRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var platform: Platform
    /// Also revoke the credential at the platform (best effort). Absent means true.
    public var revokeAtPlatform: Bool

    public init(userId: String, platform: Platform, revokeAtPlatform: Bool = true) {
      self.userId = userId
      self.platform = platform
      self.revokeAtPlatform = revokeAtPlatform
    }

    private enum CodingKeys: String, CodingKey { case userId, platform, revokeAtPlatform }

    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      userId = try container.decode(String.self, forKey: .userId)
      platform = try container.decode(Platform.self, forKey: .platform)
      revokeAtPlatform = try container.decodeIfPresent(Bool.self, forKey: .revokeAtPlatform) ?? true
    }
  }

  public struct DisconnectResponse: Codable, Sendable, Hashable {
    /// The vault held credentials for the platform (now deleted).
    public var hadCredentials: Bool
    /// The platform confirmed the revocation. False when not asked, nothing to revoke, or the
    /// platform could not be reached or refused; the local disconnect happened regardless.
    public var revoked: Bool

    public init(hadCredentials: Bool, revoked: Bool) {
      self.hadCredentials = hadCredentials
      self.revoked = revoked
    }
  }

  /// A credential for publish-service, valid at least until `leaseExpiresAt`. Never log it.
  public struct CredentialLease: Codable, Sendable, Hashable, CustomStringConvertible,
    CustomDebugStringConvertible, CustomReflectable
  {
    public var platform: Platform
    /// `Authorization: Bearer <accessToken>`.
    public var accessToken: String
    /// The base URL to call: the account's PDS for Bluesky, its instance for Mastodon.
    public var serviceUrl: String
    /// The account's id on the platform (Bluesky DID as `repo`, Mastodon account id).
    public var platformId: String
    /// Use the credential only until then; lease again afterwards.
    public var leaseExpiresAt: Timestamp
    /// When the platform stops accepting the token, if it expires at all (Mastodon's do not).
    public var tokenExpiresAt: Timestamp?

    public init(
      platform: Platform, accessToken: String, serviceUrl: String, platformId: String, leaseExpiresAt: Timestamp,
      tokenExpiresAt: Timestamp?
    ) {
      self.platform = platform
      self.accessToken = accessToken
      self.serviceUrl = serviceUrl
      self.platformId = platformId
      self.leaseExpiresAt = leaseExpiresAt
      self.tokenExpiresAt = tokenExpiresAt
    }

    public var description: String {
      "CredentialLease(platform: \(platform), platformId: \(platformId), until: \(leaseExpiresAt), accessToken: redacted)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["platform": platform, "platformId": platformId]) }
  }

  /// Why publish-service says the platform refused a leased credential.
  public enum RejectionReason: String, Codable, Sendable, Hashable, CaseIterable {
    /// The platform said the token expired (Bluesky `ExpiredToken`).
    case expired
    /// The platform said the token was revoked or is unknown (Mastodon 401, Bluesky `InvalidToken`).
    case revoked
  }

  public struct ReportCredentialRejectedRequest: Codable, Sendable, Hashable {
    public var userId: String
    public var platform: Platform
    public var reason: RejectionReason
    /// A classified description (`"HTTP 401 from the instance"`), never a response body.
    public var detail: String?

    public init(userId: String, platform: Platform, reason: RejectionReason, detail: String? = nil) {
      self.userId = userId
      self.platform = platform
      self.reason = reason
      self.detail = detail
    }
  }

  public struct ReportCredentialRejectedResponse: Codable, Sendable, Hashable {
    /// True when auth-service refreshed the credential and a new lease may work; false when the
    /// account now needs reconnection.
    public var recovered: Bool
    public init(recovered: Bool) { self.recovered = recovered }
  }

  // MARK: Methods

  public enum Method {
    /// OAuth platforms (Mastodon): a fresh `state` with PKCE, stored server-side for 10 minutes.
    public enum BeginConnect: UnaryMethod {
      public typealias Input = BeginConnectRequest
      public typealias Output = BeginConnectResponse
      public static let descriptor = MethodDescriptor(service: serviceName, method: "BeginConnect")
    }

    /// Consumes the `state` (single use) and links the account to the user who began the flow.
    public enum CompleteConnect: UnaryMethod {
      public typealias Input = CompleteConnectRequest
      public typealias Output = ConnectedAccount
      public static let descriptor = MethodDescriptor(service: serviceName, method: "CompleteConnect")
    }

    /// `UNAUTHENTICATED` wrong identifier or password; `FAILED_PRECONDITION` (`sign-in-code-required`)
    /// for accounts demanding an emailed code; `RESOURCE_EXHAUSTED` (`rate-limited`) when throttled.
    public enum ConnectBluesky: UnaryMethod {
      public typealias Input = ConnectBlueskyRequest
      public typealias Output = ConnectedAccount
      public static let descriptor = MethodDescriptor(service: serviceName, method: "ConnectBluesky")
    }

    /// Fetches the profile again with the stored credential and updates account-service.
    public enum RefreshProfile: UnaryMethod {
      public typealias Input = AccountRequest
      public typealias Output = ConnectedAccount
      public static let descriptor = MethodDescriptor(service: serviceName, method: "RefreshProfile", isIdempotent: true)
    }

    /// Revokes at the platform (best effort), forgets the credential, marks disconnected.
    public enum Disconnect: UnaryMethod {
      public typealias Input = DisconnectRequest
      public typealias Output = DisconnectResponse
      public static let descriptor = MethodDescriptor(service: serviceName, method: "Disconnect", isIdempotent: true)
    }

    /// For publish-service: a credential valid for at least the lease, refreshed first when it
    /// would expire soon (one refresh per account however many callers ask at once).
    public enum LeaseCredential: UnaryMethod {
      public typealias Input = AccountRequest
      public typealias Output = CredentialLease
      public static let descriptor = MethodDescriptor(service: serviceName, method: "LeaseCredential", isIdempotent: true)
    }

    /// For publish-service: the platform refused a leased credential.
    public enum ReportCredentialRejected: UnaryMethod {
      public typealias Input = ReportCredentialRejectedRequest
      public typealias Output = ReportCredentialRejectedResponse
      public static let descriptor = MethodDescriptor(service: serviceName, method: "ReportCredentialRejected")
    }
  }

  // MARK: Handler side

  public protocol ServiceProtocol: RPCService {
    func beginConnect(_ request: BeginConnectRequest, context: ServerContext) async throws -> BeginConnectResponse
    func completeConnect(_ request: CompleteConnectRequest, context: ServerContext) async throws -> ConnectedAccount
    func connectBluesky(_ request: ConnectBlueskyRequest, context: ServerContext) async throws -> ConnectedAccount
    func refreshProfile(_ request: AccountRequest, context: ServerContext) async throws -> ConnectedAccount
    func disconnect(_ request: DisconnectRequest, context: ServerContext) async throws -> DisconnectResponse
    func leaseCredential(_ request: AccountRequest, context: ServerContext) async throws -> CredentialLease
    func reportCredentialRejected(
      _ request: ReportCredentialRejectedRequest, context: ServerContext
    ) async throws -> ReportCredentialRejectedResponse
  }

  // MARK: Caller side

  public struct Client: Sendable {
    public let rpc: RPCClient
    public init(_ rpc: RPCClient) { self.rpc = rpc }

    public func beginConnect(
      _ request: BeginConnectRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> BeginConnectResponse {
      try await rpc.call(Method.BeginConnect.self, request, options: options)
    }

    public func completeConnect(
      _ request: CompleteConnectRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> ConnectedAccount {
      try await rpc.call(Method.CompleteConnect.self, request, options: options)
    }

    public func connectBluesky(
      _ request: ConnectBlueskyRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> ConnectedAccount {
      try await rpc.call(Method.ConnectBluesky.self, request, options: options)
    }

    public func refreshProfile(
      _ request: AccountRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> ConnectedAccount {
      try await rpc.call(Method.RefreshProfile.self, request, options: options)
    }

    public func disconnect(
      _ request: DisconnectRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> DisconnectResponse {
      try await rpc.call(Method.Disconnect.self, request, options: options)
    }

    public func leaseCredential(
      _ request: AccountRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> CredentialLease {
      try await rpc.call(Method.LeaseCredential.self, request, options: options)
    }

    public func reportCredentialRejected(
      _ request: ReportCredentialRejectedRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> ReportCredentialRejectedResponse {
      try await rpc.call(Method.ReportCredentialRejected.self, request, options: options)
    }
  }
}

extension Connections.ServiceProtocol {
  public var serviceName: String { Connections.serviceName }

  public func registerMethods(with router: inout RPCRouter) {
    router.register(Connections.Method.BeginConnect.self) { try await self.beginConnect($0, context: $1) }
    router.register(Connections.Method.CompleteConnect.self) { try await self.completeConnect($0, context: $1) }
    router.register(Connections.Method.ConnectBluesky.self) { try await self.connectBluesky($0, context: $1) }
    router.register(Connections.Method.RefreshProfile.self) { try await self.refreshProfile($0, context: $1) }
    router.register(Connections.Method.Disconnect.self) { try await self.disconnect($0, context: $1) }
    router.register(Connections.Method.LeaseCredential.self) { try await self.leaseCredential($0, context: $1) }
    router.register(Connections.Method.ReportCredentialRejected.self) {
      try await self.reportCredentialRejected($0, context: $1)
    }
  }
}
