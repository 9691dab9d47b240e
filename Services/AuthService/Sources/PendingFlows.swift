import Foundation
import HayonCrypto
import HayonModel
import HayonRPC
import HayonStore

/// A started OAuth flow, stored server-side under a hash of its `state`.
struct PendingFlow: Codable, Sendable, Hashable {
  var userId: String
  var platform: Platform
  /// Normalised instance URL (Mastodon).
  var instanceUrl: String?
  /// The exact `redirect_uri` sent in the authorize request (the token request must repeat it).
  var redirectUri: String
  /// The PKCE verifier, sealed: the state is not a key to it.
  var sealedVerifier: String
  var createdAt: Date
  var expiresAt: Date
  var consumed: Bool
  var consumedAt: Date?

  /// What a callback presenting this flow's state gets, once the flow has been claimed.
  enum Redemption: Equatable, Sendable {
    case accepted
    case expired
    case wrongPlatform
  }

  /// The rule for a claimed flow: it must be for the callback's platform and not expired.
  /// (`consumed` is settled by the atomic claim before this is asked.)
  func redemption(for callbackPlatform: Platform, at now: Date) -> Redemption {
    guard platform == callbackPlatform else { return .wrongPlatform }
    guard now < expiresAt else { return .expired }
    return .accepted
  }
}

/// A flow that passed every check: the user it belongs to and what the token request needs.
struct RedeemedFlow: Sendable, Hashable {
  var userId: String
  var platform: Platform
  var instanceUrl: String?
  var redirectUri: String
  var codeVerifier: String
}

/// A freshly started flow.
struct StartedFlow: Sendable {
  var state: String
  var codeChallenge: String
  var expiresAt: Date
}

/// Pending OAuth flows: random single-use states with PKCE, persisted so a restart or a second
/// replica can finish a flow, consumed atomically so two callbacks with one state cannot both win.
struct PendingFlowStore: Sendable {
  /// RFC 6749 leaves the lifetime to us; 10 minutes is enough to sign in and short for a thief.
  static let defaultLifetime: Duration = .seconds(600)
  /// 32 random bytes (256 bits) → 43 base64url characters.
  static let stateRandomBytes = 32
  /// Flows past expiry are removed after this long (kept a while so a late replay still reads as
  /// "expired" or "used" rather than "unknown").
  static let retention: TimeInterval = 86_400

  let store: any DocumentStore
  let sealer: Sealer
  let clock: any WallClock
  let lifetime: Duration

  init(store: any DocumentStore, sealer: Sealer, clock: any WallClock, lifetime: Duration = Self.defaultLifetime) {
    self.store = store
    self.sealer = sealer
    self.clock = clock
    self.lifetime = lifetime
  }

  /// The document id for a state: its SHA-256, so the database never holds a usable state.
  static func documentID(forState state: String) -> String {
    Base64URL.encode(Digest.hash(Array(state.utf8), using: .sha256))
  }

  static func verifierAssociatedData(_ id: String) -> String { "hayon.flow.v1|\(id)" }

  func start(userId: String, platform: Platform, instanceUrl: String?, redirectUri: String) async throws(RPCError) -> StartedFlow {
    let now = clock.now
    let state = SecureRandom.token(bytes: Self.stateRandomBytes)
    let verifier = PKCE.makeVerifier()
    let id = Self.documentID(forState: state)
    let flow: PendingFlow
    let challenge: String
    do {
      challenge = try PKCE.challenge(forVerifier: verifier)
      flow = PendingFlow(
        userId: userId, platform: platform, instanceUrl: instanceUrl, redirectUri: redirectUri,
        sealedVerifier: try sealer.sealText(verifier, associatedData: Self.verifierAssociatedData(id)),
        createdAt: now, expiresAt: now.addingTimeInterval(lifetime.timeInterval), consumed: false, consumedAt: nil)
    } catch {
      throw RPCError(.internal, "could not start the sign-in flow")
    }
    do {
      try await store.insert(flow, into: AuthStore.pendingFlows, id: id)
      try await purgeStale(now: now)
    } catch {
      throw ConnectionErrors.storage(error)
    }
    return StartedFlow(state: state, codeChallenge: challenge, expiresAt: flow.expiresAt)
  }

  /// Checks the state's shape, then claims the flow (single use), then applies the rule.
  /// Missing or malformed → `INVALID_ARGUMENT`; unknown, used, expired or for another platform
  /// → `PERMISSION_DENIED`. A refused state links nothing.
  func redeem(state: String?, platform: Platform) async throws(RPCError) -> RedeemedFlow {
    guard let state, !state.isEmpty else {
      throw ConnectionErrors.invalid("state", "is missing: the sign-in callback must carry the state it was given")
    }
    guard state.utf8.count <= 128, Base64URL.decode(state) != nil else {
      throw ConnectionErrors.invalid("state", "is malformed")
    }
    let id = Self.documentID(forState: state)
    let now = clock.now
    let claimed: [Stored<PendingFlow>]
    do {
      claimed = try await store.claim(
        PendingFlow.self, from: AuthStore.pendingFlows, where: [Field.id == .string(id), Field("consumed") == false],
        limit: 1, set: ["consumed": true, "consumedAt": .date(now)])
    } catch {
      throw ConnectionErrors.storage(error)
    }
    guard let flow = claimed.first?.value else {
      let existing: Stored<PendingFlow>?
      do {
        existing = try await store.get(PendingFlow.self, from: AuthStore.pendingFlows, id: id)
      } catch {
        throw ConnectionErrors.storage(error)
      }
      if existing == nil {
        throw RPCError(.permissionDenied, "the sign-in state is not recognised; start connecting again")
      }
      throw RPCError(.permissionDenied, "the sign-in state was already used; start connecting again")
    }
    switch flow.redemption(for: platform, at: now) {
    case .wrongPlatform:
      throw RPCError(.permissionDenied, "the sign-in state was issued for another platform; start connecting again")
    case .expired:
      throw RPCError(.permissionDenied, "the sign-in state has expired (flows last 10 minutes); start connecting again")
    case .accepted:
      break
    }
    guard let verifier = try? sealer.openText(flow.sealedVerifier, associatedData: Self.verifierAssociatedData(id)) else {
      throw RPCError(.permissionDenied, "the sign-in state could not be verified; start connecting again")
    }
    return RedeemedFlow(
      userId: flow.userId, platform: flow.platform, instanceUrl: flow.instanceUrl, redirectUri: flow.redirectUri,
      codeVerifier: verifier)
  }

  /// Removes flows that expired more than `retention` ago, a page at a time, as flows start.
  private func purgeStale(now: Date) async throws {
    let cutoff = now.addingTimeInterval(-Self.retention)
    let stale = try await store.query(
      AuthStore.pendingFlows, where: [Field("expiresAt") < .date(cutoff)], orderBy: [Field("expiresAt").ascending], limit: 100)
    for document in stale.items {
      try await store.delete(AuthStore.pendingFlows, id: document.id)
    }
  }
}
