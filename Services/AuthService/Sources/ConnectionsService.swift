import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonModel
import HayonPlatforms
import HayonRPC
import HayonRuntime
import HayonStore

/// The `hayon.auth.v1.Connections` implementation: signs accounts in on their platforms, keeps
/// the credentials sealed in the vault, and tells account-service what happened (connected,
/// profile, health). Per platform the work lives in `BlueskyConnections` and
/// `MastodonConnections`; this type validates input, routes, and owns nothing else.
///
/// No response, error or log line carries a token, password, code, state or verifier.
public struct ConnectionsService: Connections.ServiceProtocol {
  let bluesky: BlueskyConnections
  let mastodon: MastodonConnections
  let logger: Logger

  /// - Parameters:
  ///   - store: auth-service's store; its schema must include `AuthStore.collections`.
  ///   - sealer: the vault key ring (AES-256-GCM, current key seals, any listed key opens).
  ///   - accounts: account-service, told about every connection, profile and health change.
  ///   - http: how platforms are reached (`URLSessionHTTPClient` in production).
  public init(
    store: any DocumentStore, sealer: Sealer, accounts: Accounts.Client, http: any PlatformHTTPClient,
    configuration: ConnectionsConfiguration = ConnectionsConfiguration(), clock: any WallClock = SystemWallClock(),
    logger: Logger = Logger(label: "auth-connections")
  ) {
    let vault = TokenVault(store: store, sealer: sealer, clock: clock)
    let reporter = AccountReporter(accounts: accounts, logger: logger)
    self.logger = logger
    bluesky = BlueskyConnections(
      vault: vault, client: BlueskyClient(http: http, clock: clock), reporter: reporter, configuration: configuration,
      clock: clock, logger: logger)
    let mastodonClient = MastodonClient(http: http, clock: clock)
    mastodon = MastodonConnections(
      vault: vault, flows: PendingFlowStore(store: store, sealer: sealer, clock: clock),
      apps: MastodonAppRegistry(store: store, sealer: sealer, client: mastodonClient, clock: clock),
      client: mastodonClient, reporter: reporter, configuration: configuration, clock: clock, logger: logger)
  }

  public func beginConnect(
    _ request: Connections.BeginConnectRequest, context: ServerContext
  ) async throws -> Connections.BeginConnectResponse {
    try ConnectionInput.validateUserId(request.userId)
    switch request.platform {
    case .mastodon:
      return try await mastodon.begin(userId: request.userId, instanceInput: request.instanceUrl)
    case .bluesky:
      throw ConnectionErrors.blueskyHasNoBrowserSignIn
    case .tumblr, .facebook, .instagram, .threads:
      throw ConnectionErrors.notAvailableYet(request.platform)
    }
  }

  public func completeConnect(
    _ request: Connections.CompleteConnectRequest, context: ServerContext
  ) async throws -> Connections.ConnectedAccount {
    switch request.platform {
    case .mastodon:
      try ConnectionInput.validateCallback(request)
      return try await mastodon.complete(request)
    case .bluesky:
      throw ConnectionErrors.blueskyHasNoBrowserSignIn
    case .tumblr, .facebook, .instagram, .threads:
      throw ConnectionErrors.notAvailableYet(request.platform)
    }
  }

  public func connectBluesky(
    _ request: Connections.ConnectBlueskyRequest, context: ServerContext
  ) async throws -> Connections.ConnectedAccount {
    try ConnectionInput.validateUserId(request.userId)
    let identifier = try ConnectionInput.blueskyIdentifier(request.identifier)
    let password = try ConnectionInput.appPassword(request.appPassword)
    return try await bluesky.connect(userId: request.userId, identifier: identifier, appPassword: password)
  }

  public func refreshProfile(
    _ request: Connections.AccountRequest, context: ServerContext
  ) async throws -> Connections.ConnectedAccount {
    try ConnectionInput.validateUserId(request.userId)
    return try await connected(request.platform).refreshProfile(userId: request.userId)
  }

  public func disconnect(
    _ request: Connections.DisconnectRequest, context: ServerContext
  ) async throws -> Connections.DisconnectResponse {
    try ConnectionInput.validateUserId(request.userId)
    return try await connected(request.platform).disconnect(userId: request.userId, revokeAtPlatform: request.revokeAtPlatform)
  }

  public func leaseCredential(
    _ request: Connections.AccountRequest, context: ServerContext
  ) async throws -> Connections.CredentialLease {
    try ConnectionInput.validateUserId(request.userId)
    return try await connected(request.platform).lease(userId: request.userId)
  }

  public func reportCredentialRejected(
    _ request: Connections.ReportCredentialRejectedRequest, context: ServerContext
  ) async throws -> Connections.ReportCredentialRejectedResponse {
    try ConnectionInput.validateUserId(request.userId)
    if let detail = request.detail, detail.count > Connections.Limits.detailLength {
      throw ConnectionErrors.invalid("detail", "must be at most \(Connections.Limits.detailLength) characters")
    }
    let recovered = try await connected(request.platform).recover(userId: request.userId, reason: request.reason)
    return Connections.ReportCredentialRejectedResponse(recovered: recovered)
  }

  /// The one place a platform's connection logic is chosen; a platform whose flow is not built
  /// yet answers `UNIMPLEMENTED`.
  func connected(_ platform: Platform) throws(RPCError) -> any PlatformConnections {
    switch platform {
    case .bluesky: bluesky
    case .mastodon: mastodon
    case .tumblr, .facebook, .instagram, .threads: throw ConnectionErrors.notAvailableYet(platform)
    }
  }
}

/// What every platform's connection logic offers once an account is linked (how it gets linked
/// differs: an app password for Bluesky, OAuth for the others).
protocol PlatformConnections: Sendable {
  func refreshProfile(userId: String) async throws(RPCError) -> Connections.ConnectedAccount
  func disconnect(userId: String, revokeAtPlatform: Bool) async throws(RPCError) -> Connections.DisconnectResponse
  func lease(userId: String) async throws(RPCError) -> Connections.CredentialLease
  /// The platform refused a leased credential; true when a new lease may work.
  func recover(userId: String, reason: Connections.RejectionReason) async throws(RPCError) -> Bool
}

/// Tells account-service what happened. Health reports are best effort (a failure is logged,
/// the caller's answer does not change); connection changes must succeed.
struct AccountReporter: Sendable {
  let accounts: Accounts.Client
  let logger: Logger

  func connected(_ account: Connections.ConnectedAccount, fields: Accounts.PlatformFields) async throws(RPCError) {
    let profile = Accounts.Profile(displayName: account.displayName, handle: account.handle, avatarUrl: account.avatarUrl)
    do {
      _ = try await accounts.markConnected(
        Accounts.MarkConnectedRequest(
          userId: account.userId, platform: account.platform, platformId: account.platformId, profile: profile,
          platformFields: fields))
    } catch {
      logger.error("account-service refused a connection", ["userId": account.userId, "platform": account.platform.rawValue, "code": error.code.name])
      throw RPCError(.unavailable, "the account was signed in but could not be recorded; try connecting again")
    }
  }

  func disconnected(userId: String, platform: Platform) async throws(RPCError) {
    do {
      _ = try await accounts.markDisconnected(Accounts.MarkDisconnectedRequest(userId: userId, platform: platform))
    } catch {
      logger.error("account-service refused a disconnection", ["userId": userId, "platform": platform.rawValue, "code": error.code.name])
      throw RPCError(.unavailable, "the credentials were removed but the account could not be marked disconnected; try again")
    }
  }

  func profile(_ account: Connections.ConnectedAccount) async throws(RPCError) {
    let profile = Accounts.Profile(displayName: account.displayName, handle: account.handle, avatarUrl: account.avatarUrl)
    do {
      _ = try await accounts.updateProfile(Accounts.UpdateProfileRequest(userId: account.userId, platform: account.platform, profile: profile))
    } catch {
      logger.error("account-service refused a profile update", ["userId": account.userId, "platform": account.platform.rawValue, "code": error.code.name])
      throw RPCError(.unavailable, "the profile was fetched but could not be saved; try again")
    }
  }

  func health(userId: String, platform: Platform, _ event: Accounts.HealthEvent) async {
    do {
      _ = try await accounts.recordHealthEvent(Accounts.RecordHealthEventRequest(userId: userId, platform: platform, event: event))
    } catch {
      logger.warning(
        "could not record a health event", ["userId": userId, "platform": platform.rawValue, "event": event.kind.rawValue, "code": error.code.name])
    }
  }

  /// The health event for a credential the platform will no longer take.
  func lostCredential(userId: String, platform: Platform, _ reason: PlatformErrorClass.ReconnectReason) async {
    await health(userId: userId, platform: platform, reason == .expired ? .authExpired : .authRevoked)
  }
}

/// Profile text as platforms send it, made to fit account-service's rules so a odd display name
/// or avatar URL never blocks a connection.
enum ProfileText {
  static func displayName(_ text: String?) -> String? {
    guard let text else { return nil }
    let flat = String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.properties.generalCategory != .control }))
      .trimmingCharacters(in: .whitespaces)
    guard !flat.isEmpty else { return nil }
    return flat.count > Accounts.Limits.displayNameLength ? String(flat.prefix(Accounts.Limits.displayNameLength)) : flat
  }

  static func avatarURL(_ text: String?) -> String? {
    guard let text, text.utf8.count <= Accounts.Limits.urlLength, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
      let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
      scheme == "https" || scheme == "http", let host = components.host, !host.isEmpty, components.user == nil
    else { return nil }
    return text
  }
}
