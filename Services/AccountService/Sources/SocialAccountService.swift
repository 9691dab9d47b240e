import HayonAccount
import HayonCrypto
import HayonModel
import HayonRPC
import HayonRuntime
import HayonStore

/// `hayon.account.v1.AccountService` over an `AccountStore`. Each method validates its request
/// first (nothing is read or written for a bad one), then applies its change to the user's
/// document in one store transaction. Health changes come only from `HealthRules`.
public struct SocialAccountService: Accounts.ServiceProtocol {
  public let accounts: AccountStore
  public let rules: HealthRules
  public let clock: any WallClock
  public let logger: Logger

  public init(accounts: AccountStore, rules: HealthRules = HealthRules(), clock: any WallClock, logger: Logger) {
    self.accounts = accounts
    self.rules = rules
    self.clock = clock
    self.logger = logger
  }

  private var now: Timestamp { Timestamp(clock.now) }

  /// Runs one store operation; store failures become the caller's status, with the cause logged.
  private func store<Result>(
    _ context: ServerContext, _ body: () async throws -> Result
  ) async throws(RPCError) -> Result {
    do {
      return try await body()
    } catch let error as RPCError {
      throw error
    } catch {
      let status = AccountStore.rpcError(error)
      logger(context).error("account store failure", ["cause": "\(error)", "status": status.code.name])
      throw status
    }
  }

  private func modify(
    _ context: ServerContext, userId: String,
    _ change: @escaping @Sendable (inout Accounts.SocialAccount) throws(RPCError) -> Void
  ) async throws(RPCError) -> Accounts.SocialAccount {
    try await store(context) { try await accounts.modify(userId: userId, change) }
  }

  /// The logger for one call: every line names the method.
  private func logger(_ context: ServerContext) -> Logger {
    logger.with(["rpc.method": context.method.method])
  }

  public func getAccount(_ request: Accounts.GetAccountRequest, context: ServerContext) async throws -> Accounts.SocialAccount {
    try await getAccountReply(request, context: context).value
  }

  public func getAccountReply(
    _ request: Accounts.GetAccountRequest, context: ServerContext
  ) async throws -> UnaryReply<Accounts.SocialAccount> {
    try AccountValidation.validateUserId(request.userId)
    let encoded = try await store(context) { try await accounts.encodedAccount(userId: request.userId) }
    return UnaryReply(encoded.account, json: encoded.json)
  }

  public func markConnected(
    _ request: Accounts.MarkConnectedRequest, context: ServerContext
  ) async throws -> Accounts.SocialAccount {
    try AccountValidation.validate(request)
    let now = self.now
    let account = try await modify(context, userId: request.userId) { account throws(RPCError) in
      account[request.platform] = Accounts.PlatformAccount(
        platform: request.platform, connected: true, platformId: request.platformId, profile: request.profile,
        health: .freshConnection(at: now), platformFields: request.platformFields, connectedAt: now)
    }
    logger(context).info("platform connected", ["userId": request.userId, "platform": request.platform.rawValue])
    return account
  }

  public func markDisconnected(
    _ request: Accounts.MarkDisconnectedRequest, context: ServerContext
  ) async throws -> Accounts.SocialAccount {
    try AccountValidation.validateUserId(request.userId)
    let account = try await modify(context, userId: request.userId) { account throws(RPCError) in
      account[request.platform] = .notConnected(request.platform)
    }
    logger(context).info("platform disconnected", ["userId": request.userId, "platform": request.platform.rawValue])
    return account
  }

  public func updateProfile(
    _ request: Accounts.UpdateProfileRequest, context: ServerContext
  ) async throws -> Accounts.SocialAccount {
    try AccountValidation.validateUserId(request.userId)
    try AccountValidation.validate(request.profile)
    return try await modify(context, userId: request.userId) { account throws(RPCError) in
      guard account[request.platform].connected else { throw Self.notConnected(request.platform) }
      account[request.platform].profile = request.profile
    }
  }

  public func recordHealthEvent(
    _ request: Accounts.RecordHealthEventRequest, context: ServerContext
  ) async throws -> Accounts.SocialAccount {
    try AccountValidation.validate(request)
    let now = self.now
    let rules = self.rules
    let account = try await modify(context, userId: request.userId) { account throws(RPCError) in
      let platformAccount = account[request.platform]
      guard platformAccount.connected, let health = platformAccount.health else {
        throw Self.notConnected(request.platform)
      }
      account[request.platform].health = rules.apply(request.event, to: health, at: now)
    }
    if let health = account[request.platform].health {
      logger(context).info(
        "health event",
        ["userId": request.userId, "platform": request.platform.rawValue, "event": request.event.kind.rawValue,
         "status": health.status.rawValue, "consecutiveFailures": String(health.consecutiveFailures)])
    }
    return account
  }

  public func listNeedingReconnection(
    _ request: Accounts.ListNeedingReconnectionRequest, context: ServerContext
  ) async throws -> Accounts.ListNeedingReconnectionResponse {
    let pageSize = try AccountValidation.validate(request)
    let page = try await store(context) {
      try await accounts.needingReconnection(platform: request.platform, limit: pageSize, after: request.pageToken)
    }
    return Accounts.ListNeedingReconnectionResponse(accounts: page.items, nextPageToken: page.next?.token)
  }

  static func notConnected(_ platform: Platform) -> RPCError {
    RPCError(.failedPrecondition, "\(platform) is not connected for this user")
  }
}
