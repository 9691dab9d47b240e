import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonModel
import HayonPlatforms
import HayonRPC
import HayonRuntime
import HayonStore

/// Mastodon accounts on any instance: per-instance app registration, the OAuth dance with PKCE
/// and a server-side state, profile, leases and revocation. Mastodon tokens do not expire.
struct MastodonConnections: PlatformConnections {
  let vault: TokenVault
  let flows: PendingFlowStore
  let apps: MastodonAppRegistry
  let client: MastodonClient
  let reporter: AccountReporter
  let configuration: ConnectionsConfiguration
  let clock: any WallClock
  let logger: Logger

  // MARK: The OAuth dance

  func begin(userId: String, instanceInput: String?) async throws(RPCError) -> Connections.BeginConnectResponse {
    let instance = try instanceURL(instanceInput)
    let redirectUri = configuration.mastodonRedirectURI
    let app = try await apps.app(
      for: instance, redirectUri: redirectUri, clientName: configuration.mastodonClientName, website: configuration.mastodonWebsite)
    let flow = try await flows.start(
      userId: userId, platform: .mastodon, instanceUrl: instance.absoluteString, redirectUri: redirectUri)
    let url = client.authorizeURL(instance: instance, app: app, state: flow.state, codeChallenge: flow.codeChallenge)
    logger.info("sign-in started", ["userId": userId, "platform": "mastodon", "instance": instance.absoluteString])
    return Connections.BeginConnectResponse(authorizeUrl: url.absoluteString, expiresAt: Timestamp(flow.expiresAt))
  }

  /// The instance a user named (or the default), normalised and checked against the host policy.
  func instanceURL(_ input: String?) throws(RPCError) -> URL {
    guard let input, !input.trimmingCharacters(in: .whitespaces).isEmpty else { return configuration.mastodonDefaultInstance }
    guard input.utf8.count <= Connections.Limits.instanceUrlLength else {
      throw ConnectionErrors.invalid("instanceUrl", "is longer than \(Connections.Limits.instanceUrlLength) characters")
    }
    do {
      return try configuration.hostPolicy.check(input)
    } catch {
      throw ConnectionErrors.invalid("instanceUrl", error.description)
    }
  }

  func complete(_ request: Connections.CompleteConnectRequest) async throws(RPCError) -> Connections.ConnectedAccount {
    // The state is consumed first, whatever else the callback says: it can never be used twice.
    let flow = try await flows.redeem(state: request.state, platform: .mastodon)
    if let error = request.error {
      logger.notice("sign-in declined at the instance", ["userId": flow.userId, "platform": "mastodon", "error": Self.oauthErrorName(error)])
      throw RPCError(.permissionDenied, "the Mastodon sign-in was not completed (\(Self.oauthErrorName(error))); start connecting again")
    }
    guard let code = request.code, let instance = URL(string: flow.instanceUrl ?? "") else {
      throw ConnectionErrors.invalid("code", "is missing")
    }
    guard let app = try await apps.cached(instance: instance, redirectUri: flow.redirectUri) else {
      throw RPCError(.failedPrecondition, "Hayon's registration with the instance is gone; start connecting again")
    }
    let token: String
    do {
      token = try await client.exchangeCode(instance: instance, app: app, code: code, codeVerifier: flow.codeVerifier)
    } catch {
      if error.name == "invalid_client" { await apps.forget(instance: instance, redirectUri: flow.redirectUri) }
      if error.classification == .rejected {
        throw RPCError(.permissionDenied, "the instance refused the sign-in (\(error.summary)); start connecting again")
      }
      throw ConnectionErrors.fromPlatform(error, doing: "finishing the sign-in")
    }
    let account: MastodonAccount
    do {
      account = try await client.verifyCredentials(instance: instance, accessToken: token)
    } catch {
      throw ConnectionErrors.fromPlatform(error, doing: "reading the new account")
    }
    let origin = HostPolicy.originText(instance)
    try await vault.put(.mastodon(MastodonCredential(instanceUrl: origin, accountId: account.id, accessToken: token)), userId: flow.userId)
    let connected = connectedAccount(userId: flow.userId, instance: instance, account)
    try await reporter.connected(connected, fields: .mastodon(instanceUrl: origin, accountId: account.id))
    logger.info("connected", ["userId": flow.userId, "platform": "mastodon", "instance": origin, "accountId": account.id])
    return connected
  }

  /// An OAuth error code from the callback, as safe text: the RFC 6749 names pass, anything else
  /// is "error" (the description is the platform's and is not repeated).
  static func oauthErrorName(_ text: String) -> String {
    let known = [
      "access_denied", "invalid_request", "unauthorized_client", "unsupported_response_type", "invalid_scope", "server_error",
      "temporarily_unavailable",
    ]
    return known.contains(text) ? text : "error"
  }


  func connectedAccount(userId: String, instance: URL, _ account: MastodonAccount) -> Connections.ConnectedAccount {
    var domain = instance.host ?? "instance"
    if let port = instance.port { domain += ":\(port)" }
    return Connections.ConnectedAccount(
      userId: userId, platform: .mastodon, platformId: account.id, handle: "@\(account.username)@\(domain)",
      displayName: ProfileText.displayName(account.displayName), avatarUrl: ProfileText.avatarURL(account.avatar))
  }

  // MARK: Credentials

  func stored(userId: String) async throws(RPCError) -> MastodonCredential {
    guard let record = try await vault.read(userId: userId, platform: .mastodon) else {
      throw ConnectionErrors.notConnected(.mastodon)
    }
    guard case .mastodon(let credential) = record.credential else { throw ConnectionErrors.vaultUnreadable(.mastodon) }
    return credential
  }

  func lease(userId: String) async throws(RPCError) -> Connections.CredentialLease {
    let credential = try await stored(userId: userId)
    return Connections.CredentialLease(
      platform: .mastodon, accessToken: credential.accessToken, serviceUrl: credential.instanceUrl, platformId: credential.accountId,
      leaseExpiresAt: Timestamp(clock.now.addingTimeInterval(configuration.leaseDuration)), tokenExpiresAt: nil)
  }

  /// The instance refused a leased token. Mastodon tokens cannot be refreshed, so the token is
  /// checked once more: if the instance confirms it is dead, the account needs reconnecting.
  func recover(userId: String, reason: Connections.RejectionReason) async throws(RPCError) -> Bool {
    let credential = try await stored(userId: userId)
    guard let instance = URL(string: credential.instanceUrl) else { throw ConnectionErrors.vaultUnreadable(.mastodon) }
    do {
      _ = try await client.verifyCredentials(instance: instance, accessToken: credential.accessToken)
      return true
    } catch {
      guard case .reconnect(let confirmed) = error.classification else {
        throw ConnectionErrors.fromPlatform(error, doing: "checking the token")
      }
      await reporter.lostCredential(userId: userId, platform: .mastodon, confirmed)
      logger.notice("token refused by the instance", ["userId": userId, "platform": "mastodon", "why": error.summary])
      return false
    }
  }

  func refreshProfile(userId: String) async throws(RPCError) -> Connections.ConnectedAccount {
    let credential = try await stored(userId: userId)
    guard let instance = URL(string: credential.instanceUrl) else { throw ConnectionErrors.vaultUnreadable(.mastodon) }
    let account: MastodonAccount
    do {
      account = try await client.verifyCredentials(instance: instance, accessToken: credential.accessToken)
    } catch {
      if case .reconnect(let reason) = error.classification {
        await reporter.lostCredential(userId: userId, platform: .mastodon, reason)
      }
      throw ConnectionErrors.fromPlatform(error, doing: "reading the profile")
    }
    let connected = connectedAccount(userId: userId, instance: instance, account)
    try await reporter.profile(connected)
    await reporter.health(userId: userId, platform: .mastodon, .success)
    return connected
  }

  func disconnect(userId: String, revokeAtPlatform: Bool) async throws(RPCError) -> Connections.DisconnectResponse {
    var revoked = false
    var hadCredentials = false
    do {
      if let record = try await vault.read(userId: userId, platform: .mastodon) {
        hadCredentials = true
        if revokeAtPlatform, case .mastodon(let credential) = record.credential {
          // An instance may hand every connection of one account the same token (Doorkeeper's
          // reuse_access_token): revoking it would disconnect the other Hayon user too.
          if try await vault.isShared(record.credential, except: userId) {
            logger.notice("not revoked at the instance: another user connected the same account", ["userId": userId, "platform": "mastodon"])
          } else {
            revoked = await revoke(credential, userId: userId)
          }
        }
      }
    } catch where error.code == .dataLoss {
      hadCredentials = true
    }
    let deleted = try await vault.delete(userId: userId, platform: .mastodon)
    try await reporter.disconnected(userId: userId, platform: .mastodon)
    logger.info("disconnected", ["userId": userId, "platform": "mastodon", "revoked": "\(revoked)"])
    return Connections.DisconnectResponse(hadCredentials: hadCredentials || deleted, revoked: revoked)
  }

  /// `POST /oauth/revoke` with the registration the token was issued to; false when that
  /// registration is gone or the instance could not be reached.
  private func revoke(_ credential: MastodonCredential, userId: String) async -> Bool {
    guard let instance = URL(string: credential.instanceUrl),
      let app = try? await apps.cached(instance: instance, redirectUri: configuration.mastodonRedirectURI)
    else {
      logger.notice("no app registration to revoke with", ["userId": userId, "platform": "mastodon"])
      return false
    }
    do {
      try await client.revoke(instance: instance, app: app, accessToken: credential.accessToken)
      return true
    } catch {
      logger.notice("revocation at the platform failed", ["userId": userId, "platform": "mastodon", "why": error.summary])
      return false
    }
  }
}
