import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonModel
import HayonPlatforms
import HayonRPC
import HayonRuntime

/// Makes one attempt for one claimed target: leases a credential from auth-service, calls the
/// platform's create-post **at most once** (plus once more only after the platform definitively
/// refused an expired or rejected token and auth-service recovered it), and classifies what
/// happened. Never throws: every failure is an `AttemptOutcome`.
struct Publisher: Sendable {
  let connections: Connections.Client
  let accounts: Accounts.Client
  let bluesky: BlueskyClient
  let mastodon: MastodonClient
  let configuration: PublishConfiguration
  let clock: any WallClock
  let logger: Logger

  init(
    connections: Connections.Client, accounts: Accounts.Client, http: any PlatformHTTPClient, configuration: PublishConfiguration,
    clock: any WallClock, logger: Logger
  ) {
    self.connections = connections
    self.accounts = accounts
    bluesky = BlueskyClient(http: http, clock: clock)
    mastodon = MastodonClient(http: http, clock: clock)
    self.configuration = configuration
    self.clock = clock
    self.logger = logger
  }

  func attempt(_ target: TargetRecord, text: String, leaseUntil: Date) async -> AttemptOutcome {
    let lease: Connections.CredentialLease
    switch await leaseCredential(target) {
    case .success(let value): lease = value
    case .failure(let failure): return failure.outcome
    }
    // Never start a create call the lease might not cover: the sweep would call it unknown.
    guard leaseCovers(leaseUntil) else {
      return .transient("the attempt started too late in its lease; nothing was sent", notBefore: nil)
    }
    return await post(target, text: text, lease: lease, leaseUntil: leaseUntil, isSecondTry: false)
  }

  private func post(
    _ target: TargetRecord, text: String, lease: Connections.CredentialLease, leaseUntil: Date, isSecondTry: Bool
  ) async -> AttemptOutcome {
    do {
      switch target.platform {
      case .bluesky: return try await postBluesky(text: text, lease: lease, leaseUntil: leaseUntil)
      case .mastodon: return try await postMastodon(target, text: text, lease: lease)
      case .tumblr, .facebook, .instagram, .threads:
        return .rejected("publishing to \(target.platform.displayName) is not available yet")
      }
    } catch {
      switch error.classification {
      case .accessExpired, .reconnect:
        // The platform refused the token: nothing was posted. Tell auth-service (which records
        // the account's health); if it recovered the credential, lease again and try once more.
        let reason: Connections.RejectionReason
        if case .reconnect(.revoked) = error.classification { reason = .revoked } else { reason = .expired }
        guard !isSecondTry else {
          // auth-service believed the credential recovered, yet the platform refused it again:
          // record it with account-service ourselves, so the account shows it needs reconnecting.
          do {
            _ = try await accounts.recordHealthEvent(
              Accounts.RecordHealthEventRequest(
                userId: target.userId, platform: target.platform, event: reason == .revoked ? .authRevoked : .authExpired))
          } catch {
            logger.warning(
              "could not record a health event", ["userId": target.userId, "platform": target.platform.rawValue, "code": error.code.name])
          }
          return .held("\(target.platform.displayName) refused a refreshed credential (\(error.summary)); connect it again")
        }
        let recovered: Bool
        do {
          recovered = try await connections.reportCredentialRejected(
            Connections.ReportCredentialRejectedRequest(
              userId: target.userId, platform: target.platform, reason: reason, detail: String(error.summary.prefix(400)))
          ).recovered
        } catch {
          return Self.leaseOutcome(error, platform: target.platform)
        }
        guard recovered else {
          return .held("\(target.platform.displayName) needs to be connected again (\(error.summary))")
        }
        switch await leaseCredential(target) {
        case .success(let fresh):
          guard leaseCovers(leaseUntil) else {
            return .transient("the credential was refreshed too late in the lease; nothing was sent", notBefore: nil)
          }
          return await post(target, text: text, lease: fresh, leaseUntil: leaseUntil, isSecondTry: true)
        case .failure(let failure): return failure.outcome
        }
      case .transient:
        if let status = error.status, status >= 500 { return .serverError(error.summary) }
        return .transient(error.summary, notBefore: nil)
      case .rateLimited(let until):
        return .transient("rate limited (\(error.summary))", notBefore: until)
      case .rejected:
        return .rejected(error.summary)
      case .unknownOutcome:
        return .unknown("\(error.summary); the post may or may not be on \(target.platform.displayName): check before retrying")
      }
    }
  }

  /// Mentions resolved per post, at most (each is one request before the create call).
  static let maximumMentions = 10

  private func postBluesky(
    text: String, lease: Connections.CredentialLease, leaseUntil: Date
  ) async throws(PlatformError) -> AttemptOutcome {
    guard let pds = URL(string: lease.serviceUrl) else { return .rejected("the account's PDS address is unusable") }
    let rich = BlueskyRichText(text)
    var dids: [String: String] = [:]
    for handle in rich.handles.prefix(Self.maximumMentions) {
      // An unresolvable handle leaves the text plain; it never blocks the post.
      if let did = try? await bluesky.resolveHandle(pds: pds, handle: handle) { dids[handle] = did }
    }
    guard leaseCovers(leaseUntil) else {
      return .transient("resolving mentions took too long; nothing was sent", notBefore: nil)
    }
    let record = try await bluesky.createPost(
      pds: pds, accessJwt: lease.accessToken, repo: lease.platformId, text: text, facets: rich.facets(resolving: dids),
      createdAt: clock.now, timeout: configuration.platformTimeout)
    return .published(platformPostId: record.uri, url: record.webURL)
  }

  private func postMastodon(_ target: TargetRecord, text: String, lease: Connections.CredentialLease) async throws(PlatformError) -> AttemptOutcome {
    guard let instance = URL(string: lease.serviceUrl) else { return .rejected("the account's instance address is unusable") }
    let status = try await mastodon.postStatus(
      instance: instance, accessToken: lease.accessToken, status: text, idempotencyKey: target.idempotencyKey,
      visibility: configuration.mastodonVisibility, timeout: configuration.platformTimeout)
    return .published(platformPostId: status.id, url: status.url)
  }

  /// Whether the claim still has enough time left for a create-post call to finish inside it
  /// (otherwise the sweep could mark the target unknown while the call runs).
  private func leaseCovers(_ leaseUntil: Date) -> Bool {
    leaseUntil.timeIntervalSince(clock.now) >= configuration.minimumLeaseLeft
  }

  private func leaseCredential(_ target: TargetRecord) async -> Result<Connections.CredentialLease, LeaseFailure> {
    do {
      return .success(
        try await connections.leaseCredential(Connections.AccountRequest(userId: target.userId, platform: target.platform)))
    } catch {
      return .failure(LeaseFailure(outcome: Self.leaseOutcome(error, platform: target.platform)))
    }
  }

  struct LeaseFailure: Error {
    let outcome: AttemptOutcome
  }

  /// auth-service's answer when it could not give a credential. Nothing reached the platform.
  static func leaseOutcome(_ error: RPCError, platform: Platform) -> AttemptOutcome {
    switch Connections.ErrorReason(of: error) {
    case .needsReconnection?:
      return .held("\(platform.displayName) needs to be connected again")
    case .notConnected?:
      return .held("\(platform.displayName) is not connected")
    case .rateLimited?:
      let until = error.metadata[Connections.ErrorReason.retryAfterMetadataKey].flatMap(Timestamp.init(iso8601:))?.date
      return .transient("\(platform.displayName) is rate limiting sign-ins", notBefore: until)
    case .signInCodeRequired?:
      return .held("\(platform.displayName) needs to be connected again")
    case nil:
      return .transient("no credential from auth-service (\(error.code.name))", notBefore: nil)
    }
  }
}

