import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonModel
import HayonPlatforms
import HayonRPC
import HayonRuntime
import HayonStore

/// Bluesky accounts: app-password sign-in, session reuse and refresh, leases, profile, revocation.
struct BlueskyConnections: PlatformConnections {
  let vault: TokenVault
  let client: BlueskyClient
  let reporter: AccountReporter
  let configuration: ConnectionsConfiguration
  let clock: any WallClock
  let logger: Logger
  let refreshes = SingleFlight<BlueskyCredential>()

  // MARK: Connect

  func connect(userId: String, identifier: String, appPassword: String) async throws(RPCError) -> Connections.ConnectedAccount {
    let service = configuration.blueskyServiceURL
    let session: BlueskySession
    do {
      session = try await client.createSession(pds: service, identifier: identifier, password: appPassword)
    } catch {
      throw Self.signInError(error)
    }
    let pds = accountPDS(session.pdsUrl) ?? service
    let profile = try? await client.getProfile(pds: pds, accessJwt: session.accessJwt, actor: session.did)
    if profile == nil {
      logger.warning("signed in but the profile could not be read; connecting with the handle only", ["userId": userId, "platform": "bluesky"])
    }
    let credential = BlueskyCredential(
      did: session.did, handle: session.handle, pdsUrl: HostPolicy.originText(pds), accessJwt: session.accessJwt,
      refreshJwt: session.refreshJwt, accessExpiresAt: session.accessExpiresAt)
    let previous = try? await vault.read(userId: userId, platform: .bluesky)
    try await vault.put(.bluesky(credential), userId: userId)
    let account = Connections.ConnectedAccount(
      userId: userId, platform: .bluesky, platformId: session.did, handle: profile?.handle ?? session.handle,
      displayName: ProfileText.displayName(profile?.displayName), avatarUrl: ProfileText.avatarURL(profile?.avatar))
    try await reporter.connected(account, fields: .bluesky(did: session.did, pdsUrl: credential.pdsUrl))
    // The session this one replaces is ended, so reconnecting never leaves live sessions behind.
    if case .bluesky(let old)? = previous?.credential, old.refreshJwt != credential.refreshJwt, let oldPDS = URL(string: old.pdsUrl) {
      try? await client.deleteSession(pds: oldPDS, refreshJwt: old.refreshJwt)
    }
    logger.info("connected", ["userId": userId, "platform": "bluesky", "did": session.did])
    return account
  }

  /// What a failed sign-in tells the person, by the PDS's error name.
  static func signInError(_ error: PlatformError) -> RPCError {
    switch (error.classification, error.name) {
    case (_, "AuthFactorTokenRequired"):
      return ConnectionErrors.signInCodeRequired
    case (_, "AuthenticationRequired"):
      return RPCError(.unauthenticated, "Bluesky did not accept that identifier and app password")
    case (_, "AccountTakedown"), (_, "AccountDeactivated"):
      return RPCError(.failedPrecondition, "Bluesky says this account is taken down or deactivated")
    case (.rateLimited(let until), _):
      return ConnectionErrors.rateLimited(.bluesky, until: until)
    default:
      return ConnectionErrors.fromPlatform(error, doing: "signing in")
    }
  }

  /// The account's own PDS from its DID document, if the host policy lets us call it. A DID
  /// document is user-controlled, so an address inside our network is ignored (the sign-in
  /// service, which proxies for its accounts, is used instead).
  func accountPDS(_ advertised: String?) -> URL? {
    guard let advertised, let origin = try? configuration.hostPolicy.check(advertised) else { return nil }
    return origin
  }


  // MARK: Credentials

  func stored(userId: String) async throws(RPCError) -> (BlueskyCredential, Int64) {
    guard let record = try await vault.read(userId: userId, platform: .bluesky) else {
      throw ConnectionErrors.notConnected(.bluesky)
    }
    guard case .bluesky(let credential) = record.credential else { throw ConnectionErrors.vaultUnreadable(.bluesky) }
    return (credential, record.version)
  }

  func needsRefresh(_ credential: BlueskyCredential) -> Bool {
    guard let expiry = credential.accessExpiresAt else { return true }
    return expiry.timeIntervalSince(clock.now) < configuration.refreshMargin
  }

  /// A credential fresh enough to use, refreshing first when it expires within the margin.
  func fresh(userId: String) async throws(RPCError) -> BlueskyCredential {
    let (credential, _) = try await stored(userId: userId)
    guard needsRefresh(credential) else { return credential }
    return try await refresh(userId: userId, replacing: credential.refreshJwt, force: false)
  }

  /// Rotates the session once per account however many callers ask at once. Inside the flight
  /// the vault is read again: if another caller (or replica) already rotated past `replacing`,
  /// its result is used instead of spending the refresh token twice.
  func refresh(userId: String, replacing staleRefreshJwt: String, force: Bool) async throws(RPCError) -> BlueskyCredential {
    do {
      return try await refreshes.run(userId) {
        try await self.refreshNow(userId: userId, replacing: staleRefreshJwt, force: force)
      }
    } catch let error as RPCError {
      throw error
    } catch {
      throw RPCError(.internal, "the Bluesky session could not be refreshed")
    }
  }

  private func refreshNow(userId: String, replacing staleRefreshJwt: String, force: Bool) async throws(RPCError) -> BlueskyCredential {
    let (current, version) = try await stored(userId: userId)
    if current.refreshJwt != staleRefreshJwt && !needsRefresh(current) { return current }
    if force, let refreshedAt = current.refreshedAt,
      clock.now.timeIntervalSince(refreshedAt) < configuration.recentRefreshWindow, !needsRefresh(current)
    {
      return current
    }
    guard let pds = URL(string: current.pdsUrl) else { throw ConnectionErrors.vaultUnreadable(.bluesky) }
    let session: BlueskySession
    do {
      session = try await client.refreshSession(pds: pds, refreshJwt: current.refreshJwt)
    } catch {
      throw await failedRefresh(userId: userId, error)
    }
    var next = current
    next.accessJwt = session.accessJwt
    next.refreshJwt = session.refreshJwt
    next.accessExpiresAt = session.accessExpiresAt
    next.refreshedAt = clock.now
    do {
      try await vault.write(.bluesky(next), userId: userId, expectedVersion: version)
    } catch StoreError.versionConflict {
      // Another replica rotated at the same moment; its tokens are the live ones.
      let (winner, _) = try await stored(userId: userId)
      return winner
    } catch let error as RPCError {
      throw error
    } catch {
      throw ConnectionErrors.storage(error)
    }
    await reporter.health(userId: userId, platform: .bluesky, .success)
    logger.info("session refreshed", ["userId": userId, "platform": "bluesky"])
    return next
  }

  /// Records what a failed refresh means and answers the caller.
  private func failedRefresh(userId: String, _ error: PlatformError) async -> RPCError {
    switch error.classification {
    case .reconnect(let reason):
      await reporter.lostCredential(userId: userId, platform: .bluesky, reason)
      logger.notice("session can no longer be refreshed", ["userId": userId, "platform": "bluesky", "why": error.summary])
      return ConnectionErrors.needsReconnection(.bluesky, "the session was \(reason == .revoked ? "revoked" : "expired") (\(error.summary))")
    case .accessExpired:
      await reporter.lostCredential(userId: userId, platform: .bluesky, .expired)
      return ConnectionErrors.needsReconnection(.bluesky, "the session expired (\(error.summary))")
    case .transient, .unknownOutcome, .rateLimited, .rejected:
      await reporter.health(userId: userId, platform: .bluesky, .error(message: "refresh failed: \(error.summary)"))
      return ConnectionErrors.fromPlatform(error, doing: "refreshing the session")
    }
  }

  // MARK: Lease, recover

  func lease(userId: String) async throws(RPCError) -> Connections.CredentialLease {
    let credential = try await fresh(userId: userId)
    let now = clock.now
    var until = now.addingTimeInterval(configuration.leaseDuration)
    if let expiry = credential.accessExpiresAt { until = min(until, expiry) }
    return Connections.CredentialLease(
      platform: .bluesky, accessToken: credential.accessJwt, serviceUrl: credential.pdsUrl, platformId: credential.did,
      leaseExpiresAt: Timestamp(until), tokenExpiresAt: credential.accessExpiresAt.map { Timestamp($0) })
  }

  /// The PDS refused a leased access token (expired or not: a refresh tells): refresh, once
  /// across concurrent reports. False
  /// when the session is gone for good; the health event is then recorded.
  func recover(userId: String, reason: Connections.RejectionReason) async throws(RPCError) -> Bool {
    let (credential, _) = try await stored(userId: userId)
    do {
      _ = try await refresh(userId: userId, replacing: credential.refreshJwt, force: true)
      return true
    } catch where Connections.ErrorReason(of: error) == .needsReconnection {
      return false
    }
  }

  // MARK: Profile, disconnect

  func refreshProfile(userId: String) async throws(RPCError) -> Connections.ConnectedAccount {
    var credential = try await fresh(userId: userId)
    guard let pds = URL(string: credential.pdsUrl) else { throw ConnectionErrors.vaultUnreadable(.bluesky) }
    var profile: BlueskyProfile
    do {
      profile = try await client.getProfile(pds: pds, accessJwt: credential.accessJwt, actor: credential.did)
    } catch where error.classification == .accessExpired {
      credential = try await refresh(userId: userId, replacing: credential.refreshJwt, force: true)
      do {
        profile = try await client.getProfile(pds: pds, accessJwt: credential.accessJwt, actor: credential.did)
      } catch {
        throw await profileError(userId: userId, error)
      }
    } catch {
      throw await profileError(userId: userId, error)
    }
    let account = Connections.ConnectedAccount(
      userId: userId, platform: .bluesky, platformId: credential.did, handle: profile.handle,
      displayName: ProfileText.displayName(profile.displayName), avatarUrl: ProfileText.avatarURL(profile.avatar))
    try await reporter.profile(account)
    await reporter.health(userId: userId, platform: .bluesky, .success)
    return account
  }

  private func profileError(userId: String, _ error: PlatformError) async -> RPCError {
    if case .reconnect(let reason) = error.classification {
      await reporter.lostCredential(userId: userId, platform: .bluesky, reason)
    }
    return ConnectionErrors.fromPlatform(error, doing: "reading the profile")
  }

  func disconnect(userId: String, revokeAtPlatform: Bool) async throws(RPCError) -> Connections.DisconnectResponse {
    var revoked = false
    var hadCredentials = false
    do {
      if let record = try await vault.read(userId: userId, platform: .bluesky) {
        hadCredentials = true
        if revokeAtPlatform, case .bluesky(let credential) = record.credential, let pds = URL(string: credential.pdsUrl) {
          do {
            try await client.deleteSession(pds: pds, refreshJwt: credential.refreshJwt)
            revoked = true
          } catch {
            logger.notice("revocation at the platform failed", ["userId": userId, "platform": "bluesky", "why": error.summary])
          }
        }
      }
    } catch where error.code == .dataLoss {
      hadCredentials = true  // unreadable: nothing to revoke with, but it is removed below
    }
    let deleted = try await vault.delete(userId: userId, platform: .bluesky)
    try await reporter.disconnected(userId: userId, platform: .bluesky)
    logger.info("disconnected", ["userId": userId, "platform": "bluesky", "revoked": "\(revoked)"])
    return Connections.DisconnectResponse(hadCredentials: hadCredentials || deleted, revoked: revoked)
  }
}
