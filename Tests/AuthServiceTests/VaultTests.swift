import Foundation
import HayonAuth
import HayonCrypto
import HayonModel
import HayonRPC
import HayonStore
import Testing

@testable import AuthService

@Suite("Token vault")
struct VaultTests {
  let bluesky = PlatformCredential.bluesky(
    BlueskyCredential(
      did: "did:plc:abc", handle: "alice.test", pdsUrl: "https://pds.example", accessJwt: "access-secret-1",
      refreshJwt: "refresh-secret-1", accessExpiresAt: Date(timeIntervalSince1970: 1_800_007_200)))

  @Test func roundTripsAndNeverStoresPlaintext() async throws {
    let store = try await makeMemoryStore()
    let vault = TokenVault(store: store, sealer: try makeSealer(), clock: AdjustableClock())
    try await vault.put(bluesky, userId: "u1")
    let record = try await vault.read(userId: "u1", platform: .bluesky)
    #expect(record?.credential == bluesky)
    let raw = try #require(try await store.get(AuthStore.vault, id: "u1:bluesky"))
    #expect(!raw.json.contains("access-secret-1"))
    #expect(!raw.json.contains("refresh-secret-1"))
    #expect(try await vault.read(userId: "u1", platform: .mastodon) == nil)
    #expect(try await vault.read(userId: "u2", platform: .bluesky) == nil)
  }

  @Test func tamperedEnvelopeIsRefusedAndLeftAlone() async throws {
    let store = try await makeMemoryStore()
    let vault = TokenVault(store: store, sealer: try makeSealer(), clock: AdjustableClock())
    try await vault.put(bluesky, userId: "u1")
    var entry = try #require(try await store.get(VaultEntry.self, from: AuthStore.vault, id: "u1:bluesky"))
    var bytes = try #require(Base64URL.decode(entry.value.sealed))
    bytes[bytes.count - 20] ^= 0x01
    entry.value.sealed = Base64URL.encode(bytes)
    let written = try await store.update(entry, in: AuthStore.vault)
    let error = await expectRPCError(.dataLoss) { _ = try await vault.read(userId: "u1", platform: .bluesky) }
    #expect(error?.message.contains("could not be opened") == true)
    #expect(error.map { Connections.ErrorReason(of: $0) } == .needsReconnection)
    // Nothing changed: the bad entry is still there as it was.
    #expect(try await store.get(AuthStore.vault, id: "u1:bluesky")?.version == written.version)
  }

  @Test func entryMovedToAnotherUserDoesNotOpen() async throws {
    let store = try await makeMemoryStore()
    let vault = TokenVault(store: store, sealer: try makeSealer(), clock: AdjustableClock())
    try await vault.put(bluesky, userId: "u1")
    var entry = try #require(try await store.get(VaultEntry.self, from: AuthStore.vault, id: "u1:bluesky")).value
    entry.userId = "u2"
    try await store.put(entry, in: AuthStore.vault, id: "u2:bluesky")
    await expectRPCError(.dataLoss) { _ = try await vault.read(userId: "u2", platform: .bluesky) }
  }

  @Test func unknownKeyIsRefused() async throws {
    let store = try await makeMemoryStore()
    try await TokenVault(store: store, sealer: try makeSealer(["old"], current: "old"), clock: AdjustableClock())
      .put(bluesky, userId: "u1")
    let vault = TokenVault(store: store, sealer: try makeSealer(["new"], current: "new"), clock: AdjustableClock())
    await expectRPCError(.dataLoss) { _ = try await vault.read(userId: "u1", platform: .bluesky) }
  }

  @Test func readUnderRetiredKeyResealsUnderCurrent() async throws {
    let store = try await makeMemoryStore()
    let old = try makeSealer(["k1", "k2"], current: "k1")
    try await TokenVault(store: store, sealer: old, clock: AdjustableClock()).put(bluesky, userId: "u1")
    let rotated = try old.rotated(to: "k2")
    let vault = TokenVault(store: store, sealer: rotated, clock: AdjustableClock())
    #expect(try await vault.read(userId: "u1", platform: .bluesky)?.credential == bluesky)
    let entry = try #require(try await store.get(VaultEntry.self, from: AuthStore.vault, id: "u1:bluesky"))
    #expect(entry.value.keyId == "k2")
    let envelope = try #require(Base64URL.decode(entry.value.sealed))
    #expect(Sealer.keyID(ofEnvelope: envelope) == "k2")
  }

  @Test func optimisticWriteRefusesStaleVersion() async throws {
    let store = try await makeMemoryStore()
    let vault = TokenVault(store: store, sealer: try makeSealer(), clock: AdjustableClock())
    let first = try await vault.put(bluesky, userId: "u1")
    _ = try await vault.write(bluesky, userId: "u1", expectedVersion: first)
    await #expect(throws: StoreError.self) { try await vault.write(bluesky, userId: "u1", expectedVersion: first) }
  }

  @Test func descriptionsRedactTokens() {
    #expect(!"\(bluesky)".contains("secret"))
    let mastodon = PlatformCredential.mastodon(MastodonCredential(instanceUrl: "https://m.example", accountId: "1", accessToken: "tok-secret"))
    #expect(!"\(mastodon)".contains("secret"))
  }
}

@Suite("Pending OAuth flows")
struct PendingFlowTests {
  func makeFlows() async throws -> (PendingFlowStore, AdjustableClock, SQLiteStore) {
    let store = try await makeMemoryStore()
    let clock = AdjustableClock()
    return (PendingFlowStore(store: store, sealer: try makeSealer(), clock: clock), clock, store)
  }

  @Test func stateIsRandomAndRedeemsOnceForItsUser() async throws {
    let (flows, _, store) = try await makeFlows()
    let started = try await flows.start(userId: "u1", platform: .mastodon, instanceUrl: "https://m.example", redirectUri: "https://gw/cb")
    let other = try await flows.start(userId: "u2", platform: .mastodon, instanceUrl: nil, redirectUri: "https://gw/cb")
    #expect(started.state != other.state)
    #expect(try #require(Base64URL.decode(started.state)).count >= 16)
    // The database holds neither the state nor the verifier.
    let raw = try await store.query(AuthStore.pendingFlows).items.map(\.json).joined()
    #expect(!raw.contains(started.state))
    let redeemed = try await flows.redeem(state: started.state, platform: .mastodon)
    #expect(redeemed.userId == "u1")
    #expect(redeemed.instanceUrl == "https://m.example")
    #expect(PKCE.verifier(redeemed.codeVerifier, matchesChallenge: started.codeChallenge))
    #expect(!raw.contains(redeemed.codeVerifier))
    let replay = await expectRPCError(.permissionDenied) { _ = try await flows.redeem(state: started.state, platform: .mastodon) }
    #expect(replay?.message.contains("already used") == true)
  }

  @Test(arguments: [nil, ""] as [String?])
  func missingStateIsInvalid(_ state: String?) async throws {
    let (flows, _, _) = try await makeFlows()
    let error = await expectRPCError(.invalidArgument) { _ = try await flows.redeem(state: state, platform: .mastodon) }
    #expect(error?.message.contains("state is missing") == true)
  }

  @Test(arguments: ["not a state!", String(repeating: "A", count: 200)])
  func malformedStateIsInvalid(_ state: String) async throws {
    let (flows, _, _) = try await makeFlows()
    let error = await expectRPCError(.invalidArgument) { _ = try await flows.redeem(state: state, platform: .mastodon) }
    #expect(error?.message == "state is malformed")
  }

  @Test func forgedStateIsUnknown() async throws {
    let (flows, _, _) = try await makeFlows()
    _ = try await flows.start(userId: "u1", platform: .mastodon, instanceUrl: nil, redirectUri: "https://gw/cb")
    let error = await expectRPCError(.permissionDenied) {
      _ = try await flows.redeem(state: SecureRandom.token(), platform: .mastodon)
    }
    #expect(error?.message.contains("not recognised") == true)
  }

  @Test func expiredStateIsRefusedAfterTenMinutes() async throws {
    let (flows, clock, _) = try await makeFlows()
    let fresh = try await flows.start(userId: "u1", platform: .mastodon, instanceUrl: nil, redirectUri: "https://gw/cb")
    let late = try await flows.start(userId: "u1", platform: .mastodon, instanceUrl: nil, redirectUri: "https://gw/cb")
    clock.advance(by: 599)
    _ = try await flows.redeem(state: fresh.state, platform: .mastodon)
    clock.advance(by: 1)
    let error = await expectRPCError(.permissionDenied) { _ = try await flows.redeem(state: late.state, platform: .mastodon) }
    #expect(error?.message.contains("expired") == true)
  }

  @Test func stateForAnotherPlatformIsRefused() async throws {
    let (flows, _, _) = try await makeFlows()
    let started = try await flows.start(userId: "u1", platform: .mastodon, instanceUrl: nil, redirectUri: "https://gw/cb")
    await expectRPCError(.permissionDenied) { _ = try await flows.redeem(state: started.state, platform: .tumblr) }
  }

  @Test func concurrentRedemptionsHaveExactlyOneWinner() async throws {
    let (flows, _, _) = try await makeFlows()
    let started = try await flows.start(userId: "u1", platform: .mastodon, instanceUrl: nil, redirectUri: "https://gw/cb")
    let outcomes = await withTaskGroup(of: Bool.self) { group in
      for _ in 0..<8 {
        group.addTask { (try? await flows.redeem(state: started.state, platform: .mastodon)) != nil }
      }
      return await group.reduce(into: [Bool]()) { $0.append($1) }
    }
    #expect(outcomes.filter { $0 }.count == 1)
  }

  @Test func flowsSurviveARestart() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("auth-flows-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("auth-service.sqlite").path
    let sealer = try makeSealer()
    let clock = AdjustableClock()
    let first = try await SQLiteStore(.file(path), schema: AuthStore.schema)
    let started = try await PendingFlowStore(store: first, sealer: sealer, clock: clock)
      .start(userId: "u1", platform: .mastodon, instanceUrl: nil, redirectUri: "https://gw/cb")
    await first.close()
    let second = try await SQLiteStore(.file(path), schema: AuthStore.schema)
    let redeemed = try await PendingFlowStore(store: second, sealer: sealer, clock: clock).redeem(state: started.state, platform: .mastodon)
    #expect(redeemed.userId == "u1")
    await second.close()
  }

  @Test(arguments: [
    (Platform.mastodon, 0.0, PendingFlow.Redemption.accepted),
    (.mastodon, 599.999, .accepted),
    (.mastodon, 600, .expired),
    (.tumblr, 0, .wrongPlatform),
    (.tumblr, 900, .wrongPlatform),
  ])
  func redemptionRule(platform: Platform, elapsed: Double, expected: PendingFlow.Redemption) {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let flow = PendingFlow(
      userId: "u1", platform: .mastodon, instanceUrl: nil, redirectUri: "https://gw/cb", sealedVerifier: "x",
      createdAt: start, expiresAt: start.addingTimeInterval(600), consumed: true, consumedAt: start)
    #expect(flow.redemption(for: platform, at: start.addingTimeInterval(elapsed)) == expected)
  }
}
