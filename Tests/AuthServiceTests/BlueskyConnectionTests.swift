import Foundation
import HayonAccount
import HayonAuth
import HayonModel
import HayonRPC
import HayonStore
import PlatformSandbox
import Testing

@testable import AuthService

@Suite("Bluesky connections over RPC against the sandbox", .serialized)
struct BlueskyConnectionTests {
  @Test func connectingLinksTheAccountAndKeepsTheTokensSealed() async throws {
    try await withConnections { h in
      let did = h.sandbox.bluesky.addAccount(
        handle: "alice.bsky.social", password: samplePassword, displayName: "Alice", avatarUrl: "https://cdn.example/a.png")
      let connected = try await h.connectBluesky("user-1", handle: "  @Alice.bsky.social ")
      #expect(connected == Connections.ConnectedAccount(
        userId: "user-1", platform: .bluesky, platformId: did, handle: "alice.bsky.social", displayName: "Alice",
        avatarUrl: "https://cdn.example/a.png"))
      let account = try await h.account("user-1", .bluesky)
      #expect(account.connected)
      #expect(account.platformId == did)
      #expect(account.platformFields == .bluesky(did: did, pdsUrl: h.sandboxURL))
      #expect(account.health?.status == .active)
      #expect(account.health?.needsReconnection == false)
      // The sandbox saw the normalised identifier once.
      #expect(h.sandbox.bluesky.createSessionCount(identifier: "alice.bsky.social") == 1)
      // The vault row is sealed: neither token appears in the stored text.
      let lease = try await h.connections.leaseCredential(Connections.AccountRequest(userId: "user-1", platform: .bluesky))
      let rows = try await h.store.query(AuthStore.vault, where: [], orderBy: [], limit: 10)
      #expect(rows.items.count == 1)
      let stored = String(describing: rows.items)
      #expect(!stored.contains(lease.accessToken))
      #expect(!stored.contains(samplePassword))
    }
  }

  @Test func aWrongPasswordIsRefusedAndNothingIsLinked() async throws {
    try await withConnections { h in
      h.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "zzzz-zzzz-zzzz-zzzz")
      await expectRPCError(.unauthenticated, "Bluesky did not accept that identifier and app password") {
        _ = try await h.connectBluesky("user-1")
      }
      let observed46 = try await h.account("user-1", .bluesky).connected == false
      #expect(observed46)
      let observed47 = try await h.store.query(AuthStore.vault, where: [], orderBy: [], limit: 10).items.isEmpty
      #expect(observed47)
    }
  }

  @Test func anAccountDemandingASignInCodeGetsItsOwnError() async throws {
    try await withConnections { h in
      h.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: samplePassword, requiresAuthFactor: true)
      await expectRPCError(
        .failedPrecondition, "this account requires a sign-in code; use an app password", reason: .signInCodeRequired
      ) { _ = try await h.connectBluesky("user-1") }
      let observed57 = try await h.account("user-1", .bluesky).connected == false
      #expect(observed57)
    }
  }

  @Test func rateLimitingIsReportedWithTheResetTime() async throws {
    try await withConnections { h in
      h.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: samplePassword)
      h.sandbox.failNext(1, pathPrefix: "/xrpc/com.atproto.server.createSession", status: 429, retryAfterSeconds: 120)
      let refusal = await expectRPCError(.resourceExhausted, reason: .rateLimited) { _ = try await h.connectBluesky("user-1") }
      let reset = Timestamp(h.sandbox.clock.now.addingTimeInterval(120)).iso8601
      #expect(refusal?.metadata[Connections.ErrorReason.retryAfterMetadataKey] == reset)
      #expect(refusal?.message == "Bluesky is rate limiting sign-ins; try again after \(reset)")
      let observed69 = try await h.account("user-1", .bluesky).connected == false
      #expect(observed69)
    }
  }

  @Test func malformedInputNeverReachesThePlatform() async throws {
    try await withConnections { h in
      h.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: samplePassword)
      await expectRPCError(
        .invalidArgument,
        "appPassword must be an app password (four groups of four letters or digits, like xxxx-xxxx-xxxx-xxxx) created in Bluesky's settings; the account password is not accepted"
      ) {
        _ = try await h.connections.connectBluesky(
          Connections.ConnectBlueskyRequest(userId: "user-1", identifier: "alice.bsky.social", appPassword: "hunter2"))
      }
      await expectRPCError(.invalidArgument, "identifier is empty") {
        _ = try await h.connections.connectBluesky(
          Connections.ConnectBlueskyRequest(userId: "user-1", identifier: " @ ", appPassword: samplePassword))
      }
      await expectRPCError(.invalidArgument, "userId must be 1-64 characters of A-Z a-z 0-9 _ -") {
        _ = try await h.connections.connectBluesky(
          Connections.ConnectBlueskyRequest(userId: "../etc", identifier: "alice.bsky.social", appPassword: samplePassword))
      }
      #expect(h.sandbox.requests().isEmpty)
    }
  }

  @Test func anExpiredAccessTokenIsRefreshedOnceWhenReported() async throws {
    try await withConnections { h in
      let did = h.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: samplePassword)
      try await h.connectBluesky("user-1")
      let request = Connections.AccountRequest(userId: "user-1", platform: .bluesky)
      let first = try await h.connections.leaseCredential(request)
      h.sandbox.bluesky.expireAccessTokens(did: did)
      // A second later, so the new access JWT differs from the old one (same claims otherwise).
      h.advance(seconds: 1)
      let report = Connections.ReportCredentialRejectedRequest(userId: "user-1", platform: .bluesky, reason: .expired)
      #expect(try await h.connections.reportCredentialRejected(report).recovered)
      #expect(h.sandbox.bluesky.refreshCount(did: did) == 1)
      let second = try await h.connections.leaseCredential(request)
      #expect(second.accessToken != first.accessToken)
      #expect(second.platformId == did)
      #expect(second.serviceUrl == h.sandboxURL)
      // A report racing the refresh does not spend the new refresh token.
      #expect(try await h.connections.reportCredentialRejected(report).recovered)
      #expect(h.sandbox.bluesky.refreshCount(did: did) == 1)
      // The new token works at the PDS.
      let profile = try await h.connections.refreshProfile(request)
      #expect(profile.platformId == did)
      #expect(try await h.account("user-1", .bluesky).health?.lastSuccessfulRefresh != nil)
    }
  }

  @Test func concurrentLeasesNearExpiryCauseOneRefresh() async throws {
    try await withConnections { h in
      let did = h.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: samplePassword)
      try await h.connectBluesky("user-1")
      // 118 minutes later the 120-minute access token is inside the 5-minute refresh margin.
      h.advance(seconds: 118 * 60)
      let request = Connections.AccountRequest(userId: "user-1", platform: .bluesky)
      let leases = try await withThrowingTaskGroup(of: Connections.CredentialLease.self) { group in
        for _ in 0..<8 { group.addTask { try await h.connections.leaseCredential(request) } }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      #expect(h.sandbox.bluesky.refreshCount(did: did) == 1)
      #expect(Set(leases.map(\.accessToken)).count == 1)
      let lease = try #require(leases.first)
      #expect(try #require(lease.tokenExpiresAt).date > h.clock.now.addingTimeInterval(110 * 60))
      #expect(lease.leaseExpiresAt.date <= h.clock.now.addingTimeInterval(600))
    }
  }

  @Test func aRevokedSessionNeedsReconnectionAndIsRecorded() async throws {
    try await withConnections { h in
      let did = h.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: samplePassword)
      try await h.connectBluesky("user-1")
      h.sandbox.bluesky.revokeSessions(did: did)
      h.advance(seconds: 119 * 60)
      await expectRPCError(.failedPrecondition, reason: .needsReconnection) {
        _ = try await h.connections.leaseCredential(Connections.AccountRequest(userId: "user-1", platform: .bluesky))
      }
      let account = try await h.account("user-1", .bluesky)
      #expect(account.connected)
      #expect(account.health?.status == .revoked)
      #expect(account.health?.needsReconnection == true)
      // Connecting again clears it.
      try await h.connectBluesky("user-1")
      #expect(try await h.account("user-1", .bluesky).health?.needsReconnection == false)
    }
  }

  @Test func reconnectingEndsThePreviousSession() async throws {
    try await withConnections { h in
      let did = h.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: samplePassword)
      try await h.connectBluesky("user-1")
      try await h.connectBluesky("user-1")
      #expect(h.sandbox.bluesky.liveSessionCount(did: did) == 1)
    }
  }

  @Test func disconnectRevokesAtThePDSAndForgetsTheCredential() async throws {
    try await withConnections { h in
      let did = h.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: samplePassword)
      try await h.connectBluesky("user-1")
      let result = try await h.connections.disconnect(Connections.DisconnectRequest(userId: "user-1", platform: .bluesky))
      #expect(result == Connections.DisconnectResponse(hadCredentials: true, revoked: true))
      #expect(h.sandbox.bluesky.liveSessionCount(did: did) == 0)
      #expect(try await h.account("user-1", .bluesky).connected == false)
      await expectRPCError(.failedPrecondition, "Bluesky is not connected", reason: .notConnected) {
        _ = try await h.connections.leaseCredential(Connections.AccountRequest(userId: "user-1", platform: .bluesky))
      }
      // Again: nothing to revoke, still succeeds.
      let again = try await h.connections.disconnect(Connections.DisconnectRequest(userId: "user-1", platform: .bluesky))
      #expect(again == Connections.DisconnectResponse(hadCredentials: false, revoked: false))
    }
  }

  @Test func disconnectWithoutRevocationLeavesThePlatformSessionAlone() async throws {
    try await withConnections { h in
      let did = h.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: samplePassword)
      try await h.connectBluesky("user-1")
      let result = try await h.connections.disconnect(
        Connections.DisconnectRequest(userId: "user-1", platform: .bluesky, revokeAtPlatform: false))
      #expect(result == Connections.DisconnectResponse(hadCredentials: true, revoked: false))
      #expect(h.sandbox.bluesky.liveSessionCount(did: did) == 1)
      #expect(try await h.account("user-1", .bluesky).connected == false)
    }
  }

  @Test func platformsWithoutAFlowSaySo() async throws {
    try await withConnections { h in
      for platform in [Platform.tumblr, .facebook, .instagram, .threads] {
        await expectRPCError(.unimplemented, "\(platform.displayName) is not available yet") {
          _ = try await h.connections.beginConnect(Connections.BeginConnectRequest(userId: "user-1", platform: platform))
        }
        await expectRPCError(.unimplemented, "\(platform.displayName) is not available yet") {
          _ = try await h.connections.leaseCredential(Connections.AccountRequest(userId: "user-1", platform: platform))
        }
      }
      await expectRPCError(
        .invalidArgument, "platform bluesky has no browser sign-in: connect it with an app password (ConnectBluesky)"
      ) {
        _ = try await h.connections.beginConnect(Connections.BeginConnectRequest(userId: "user-1", platform: .bluesky))
      }
    }
  }
}
