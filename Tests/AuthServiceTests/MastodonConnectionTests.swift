import Foundation
import HayonAccount
import HayonAuth
import HayonHTTP2
import HayonModel
import HayonPlatforms
import HayonRPC
import HayonStore
import PlatformSandbox
import Testing

@testable import AuthService

@Suite("Mastodon connections over RPC against the sandbox", .serialized)
struct MastodonConnectionTests {
  @Test func theRedirectDanceLinksTheAccount() async throws {
    try await withConnections { h in
      let id = h.sandbox.mastodon.addAccount(username: "alice", displayName: "Alice M", avatarUrl: "https://cdn.example/m.png")
      let begun = try await h.connections.beginConnect(Connections.BeginConnectRequest(userId: "user-1", platform: .mastodon))
      #expect(begun.authorizeUrl.hasPrefix(h.sandboxURL + "/oauth/authorize?"))
      #expect(begun.expiresAt.date == h.clock.now.addingTimeInterval(600))
      let query = URLComponents(string: begun.authorizeUrl)?.queryItems ?? []
      #expect(query.first { $0.name == "code_challenge_method" }?.value == "S256")
      #expect(query.first { $0.name == "redirect_uri" }?.value == sampleRedirect)
      let redirect = try await h.authorize(begun.authorizeUrl)
      let connected = try await h.connections.completeConnect(
        Connections.CompleteConnectRequest(platform: .mastodon, state: redirect.state, code: redirect.code))
      let domain = hostAndPort(h.sandboxURL)
      #expect(connected == Connections.ConnectedAccount(
        userId: "user-1", platform: .mastodon, platformId: id, handle: "@alice@\(domain)", displayName: "Alice M",
        avatarUrl: "https://cdn.example/m.png"))
      let account = try await h.account("user-1", .mastodon)
      #expect(account.connected)
      #expect(account.platformFields == .mastodon(instanceUrl: h.sandboxURL, accountId: id))
      #expect(h.sandbox.mastodon.liveTokenCount(accountId: id) == 1)
      let apps = h.sandbox.mastodon.registeredApps()
      #expect(apps.count == 1)
      #expect(apps.first?.redirectUris == [sampleRedirect])
      #expect(apps.first?.scopes == ["read:accounts", "write:statuses", "write:media"])
      // A second user on the same instance reuses the registration.
      let bob = h.sandbox.mastodon.addAccount(username: "bob")
      h.sandbox.mastodon.setSignedInAccount(bob)
      try await h.connectMastodon("user-2")
      #expect(h.sandbox.mastodon.registeredApps().count == 1)
      let lease = try await h.connections.leaseCredential(Connections.AccountRequest(userId: "user-2", platform: .mastodon))
      #expect(lease.platformId == bob)
      #expect(lease.serviceUrl == h.sandboxURL)
      #expect(lease.tokenExpiresAt == nil)
    }
  }

  @Test func aRegistrationTheInstanceForgotIsReplaced() async throws {
    try await withConnections { h in
      h.sandbox.mastodon.addAccount(username: "alice")
      try await h.connectMastodon("user-1")
      // The instance is reset (a new sandbox on the same address): it no longer knows Hayon's app.
      let port = try #require(URL(string: h.sandboxURL)?.port)
      await h.sandbox.shutdown()
      var configuration = PlatformSandbox.Configuration()
      configuration.address = SocketAddress(host: "127.0.0.1", port: port)
      let reset = try await PlatformSandbox.start(configuration)
      let bob = reset.mastodon.addAccount(username: "bob")
      let begun = try await h.connections.beginConnect(Connections.BeginConnectRequest(userId: "user-2", platform: .mastodon))
      #expect(reset.mastodon.registeredApps().count == 1)
      let redirect = try await h.authorize(begun.authorizeUrl)
      let connected = try await h.connections.completeConnect(
        Connections.CompleteConnectRequest(platform: .mastodon, state: redirect.state, code: redirect.code))
      #expect(connected.platformId == bob)
      // A known registration is checked and kept: no new one.
      let again = try await h.connections.beginConnect(Connections.BeginConnectRequest(userId: "user-3", platform: .mastodon))
      #expect(again.authorizeUrl.contains(reset.mastodon.registeredApps()[0].clientId))
      #expect(reset.mastodon.registeredApps().count == 1)
      await reset.shutdown()
    }
  }

  @Test func oneDeploymentConnectsAccountsOnTwoInstances() async throws {
    try await withConnections(twoInstances: true) { h in
      let second = try #require(h.secondSandbox)
      let alice = h.sandbox.mastodon.addAccount(username: "alice")
      let carol = second.mastodon.addAccount(username: "carol")
      let first = try await h.connectMastodon("user-1")
      let other = try await h.connectMastodon("user-2", instance: second.baseURL + "/")
      #expect(first.platformId == alice)
      #expect(other.platformId == carol)
      #expect(other.handle == "@carol@\(hostAndPort(second.baseURL))")
      #expect(h.sandbox.mastodon.registeredApps().count == 1)
      #expect(second.mastodon.registeredApps().count == 1)
      #expect(second.mastodon.liveTokenCount(accountId: carol) == 1)
      #expect(try await h.account("user-2", .mastodon).platformFields == .mastodon(instanceUrl: second.baseURL, accountId: carol))
      let lease = try await h.connections.leaseCredential(Connections.AccountRequest(userId: "user-2", platform: .mastodon))
      #expect(lease.serviceUrl == second.baseURL)
    }
  }

  @Test func forgedStatesAreRefusedAndLinkNothing() async throws {
    try await withConnections { h in
      h.sandbox.mastodon.addAccount(username: "alice")
      let begun = try await h.connections.beginConnect(Connections.BeginConnectRequest(userId: "user-1", platform: .mastodon))
      let redirect = try await h.authorize(begun.authorizeUrl)
      await expectRPCError(.permissionDenied, "the sign-in state is not recognised; start connecting again") {
        _ = try await h.connections.completeConnect(
          Connections.CompleteConnectRequest(platform: .mastodon, state: "Zm9yZ2VkLXN0YXRlLXZhbHVlLXRoYXQtbG9va3MtcmVhbA", code: redirect.code))
      }
      await expectRPCError(.invalidArgument, "state is missing: the sign-in callback must carry the state it was given") {
        _ = try await h.connections.completeConnect(Connections.CompleteConnectRequest(platform: .mastodon, state: nil, code: redirect.code))
      }
      await expectRPCError(.invalidArgument, "state is malformed") {
        _ = try await h.connections.completeConnect(
          Connections.CompleteConnectRequest(platform: .mastodon, state: "not base64url!", code: redirect.code))
      }
      #expect(try await h.account("user-1", .mastodon).connected == false)
      #expect(!h.sandbox.requests().contains { $0.path == "/oauth/token" })
    }
  }

  @Test func aReplayedStateIsRefused() async throws {
    try await withConnections { h in
      h.sandbox.mastodon.addAccount(username: "alice")
      let begun = try await h.connections.beginConnect(Connections.BeginConnectRequest(userId: "user-1", platform: .mastodon))
      let redirect = try await h.authorize(begun.authorizeUrl)
      let callback = Connections.CompleteConnectRequest(platform: .mastodon, state: redirect.state, code: redirect.code)
      _ = try await h.connections.completeConnect(callback)
      await expectRPCError(.permissionDenied, "the sign-in state was already used; start connecting again") {
        _ = try await h.connections.completeConnect(callback)
      }
      #expect(h.sandbox.requests().filter { $0.path == "/oauth/token" }.count == 1)
    }
  }

  @Test func anExpiredStateIsRefused() async throws {
    try await withConnections { h in
      h.sandbox.mastodon.addAccount(username: "alice")
      let begun = try await h.connections.beginConnect(Connections.BeginConnectRequest(userId: "user-1", platform: .mastodon))
      let redirect = try await h.authorize(begun.authorizeUrl)
      h.clock.advance(by: 601)
      await expectRPCError(.permissionDenied, "the sign-in state has expired (flows last 10 minutes); start connecting again") {
        _ = try await h.connections.completeConnect(
          Connections.CompleteConnectRequest(platform: .mastodon, state: redirect.state, code: redirect.code))
      }
      #expect(try await h.account("user-1", .mastodon).connected == false)
    }
  }

  @Test func aDeclinedSignInConsumesTheState() async throws {
    try await withConnections { h in
      h.sandbox.mastodon.addAccount(username: "alice")
      h.sandbox.mastodon.denyNextAuthorization()
      let begun = try await h.connections.beginConnect(Connections.BeginConnectRequest(userId: "user-1", platform: .mastodon))
      let redirect = try await h.authorize(begun.authorizeUrl)
      #expect(redirect.error == "access_denied")
      #expect(redirect.code == nil)
      let callback = Connections.CompleteConnectRequest(platform: .mastodon, state: redirect.state, code: nil, error: redirect.error)
      await expectRPCError(.permissionDenied, "the Mastodon sign-in was not completed (access_denied); start connecting again") {
        _ = try await h.connections.completeConnect(callback)
      }
      await expectRPCError(.permissionDenied, "the sign-in state was already used; start connecting again") {
        _ = try await h.connections.completeConnect(callback)
      }
      #expect(try await h.account("user-1", .mastodon).connected == false)
    }
  }

  @Test func instancesInsideTheNetworkAreRefused() async throws {
    try await withConnections { h in
      for (input, message) in [
        ("http://mastodon.social", "instanceUrl must use https"),
        ("https://localhost", "instanceUrl localhost is not a public internet address"),
        ("https://127.0.0.1:9", "instanceUrl 127.0.0.1 is not a public internet address"),
        ("https://169.254.169.254", "instanceUrl 169.254.169.254 is not a public internet address"),
        ("https://[::1]", "instanceUrl ::1 is not a public internet address"),
        ("https://mastodon.social/about", "instanceUrl must be the instance's address only, without a path"),
        ("https://u:p@mastodon.social", "instanceUrl must not contain a user name or password"),
      ] {
        await expectRPCError(.invalidArgument, message) {
          _ = try await h.connections.beginConnect(
            Connections.BeginConnectRequest(userId: "user-1", platform: .mastodon, instanceUrl: input))
        }
      }
      #expect(h.sandbox.requests().isEmpty)
      let observed155 = try await h.store.query(AuthStore.pendingFlows, where: [], orderBy: [], limit: 10).items.isEmpty
      #expect(observed155)
    }
  }

  @Test func aRevokedTokenIsConfirmedAndRecorded() async throws {
    try await withConnections { h in
      let id = h.sandbox.mastodon.addAccount(username: "alice")
      try await h.connectMastodon("user-1")
      let report = Connections.ReportCredentialRejectedRequest(userId: "user-1", platform: .mastodon, reason: .revoked)
      // Not actually revoked: the token still works, nothing is recorded.
      #expect(try await h.connections.reportCredentialRejected(report).recovered)
      #expect(try await h.account("user-1", .mastodon).health?.needsReconnection == false)
      h.sandbox.mastodon.revokeTokens(accountId: id)
      #expect(try await h.connections.reportCredentialRejected(report).recovered == false)
      let health = try #require(try await h.account("user-1", .mastodon).health)
      #expect(health.status == .revoked)
      #expect(health.needsReconnection)
      await expectRPCError(.failedPrecondition, reason: .needsReconnection) {
        _ = try await h.connections.refreshProfile(Connections.AccountRequest(userId: "user-1", platform: .mastodon))
      }
      // Reconnecting clears it.
      try await h.connectMastodon("user-1")
      #expect(try await h.account("user-1", .mastodon).health?.needsReconnection == false)
    }
  }

  @Test func disconnectRevokesTheTokenAtTheInstance() async throws {
    try await withConnections { h in
      let id = h.sandbox.mastodon.addAccount(username: "alice")
      try await h.connectMastodon("user-1")
      let result = try await h.connections.disconnect(Connections.DisconnectRequest(userId: "user-1", platform: .mastodon))
      #expect(result == Connections.DisconnectResponse(hadCredentials: true, revoked: true))
      #expect(h.sandbox.mastodon.liveTokenCount(accountId: id) == 0)
      #expect(try await h.account("user-1", .mastodon).connected == false)
    }
  }

  @Test func disconnectingASharedAccountLeavesTheOtherUsersTokenAlive() async throws {
    try await withConnections { h in
      let id = h.sandbox.mastodon.addAccount(username: "brand")
      try await h.connectMastodon("user-1")
      try await h.connectMastodon("user-2")
      // The instance handed both connections the same token (reuse_access_token).
      let first = try await h.connections.leaseCredential(Connections.AccountRequest(userId: "user-1", platform: .mastodon))
      let second = try await h.connections.leaseCredential(Connections.AccountRequest(userId: "user-2", platform: .mastodon))
      #expect(first.accessToken == second.accessToken)
      let result = try await h.connections.disconnect(Connections.DisconnectRequest(userId: "user-2", platform: .mastodon))
      #expect(result == Connections.DisconnectResponse(hadCredentials: true, revoked: false))
      #expect(h.sandbox.mastodon.liveTokenCount(accountId: id) == 1)
      let stillWorks = try await h.connections.refreshProfile(Connections.AccountRequest(userId: "user-1", platform: .mastodon))
      #expect(stillWorks.platformId == id)
      let user2 = try await h.account("user-2", .mastodon)
      #expect(user2.connected == false)
      // The last holder's disconnect does revoke.
      let last = try await h.connections.disconnect(Connections.DisconnectRequest(userId: "user-1", platform: .mastodon))
      #expect(last.revoked)
      #expect(h.sandbox.mastodon.liveTokenCount(accountId: id) == 0)
    }
  }

  @Test func disconnectStillSucceedsWhenTheInstanceIsDown() async throws {
    try await withConnections { h in
      let id = h.sandbox.mastodon.addAccount(username: "alice")
      try await h.connectMastodon("user-1")
      h.sandbox.failNext(1, pathPrefix: "/oauth/revoke", status: 503)
      let result = try await h.connections.disconnect(Connections.DisconnectRequest(userId: "user-1", platform: .mastodon))
      #expect(result == Connections.DisconnectResponse(hadCredentials: true, revoked: false))
      #expect(h.sandbox.mastodon.liveTokenCount(accountId: id) == 1)
      #expect(try await h.account("user-1", .mastodon).connected == false)
    }
  }

  @Test func refreshProfilePicksUpChanges() async throws {
    try await withConnections { h in
      h.sandbox.mastodon.addAccount(username: "alice", displayName: "Alice")
      try await h.connectMastodon("user-1")
      let refreshed = try await h.connections.refreshProfile(Connections.AccountRequest(userId: "user-1", platform: .mastodon))
      #expect(refreshed.displayName == "Alice")
      #expect(try await h.account("user-1", .mastodon).profile?.handle == "@alice@\(hostAndPort(h.sandboxURL))")
    }
  }
}

@Suite("Nothing secret leaves auth-service", .serialized)
struct SecretLeakTests {
  @Test func noTokenAppearsInAccountServiceResponsesOrAnyLog() async throws {
    try await withConnections { h in
      let did = h.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: samplePassword)
      h.sandbox.mastodon.addAccount(username: "alice")
      try await h.connectBluesky("user-1")
      h.sandbox.bluesky.expireAccessTokens(did: did)
      _ = try await h.connections.reportCredentialRejected(
        Connections.ReportCredentialRejectedRequest(userId: "user-1", platform: .bluesky, reason: .expired))
      let begun = try await h.connections.beginConnect(Connections.BeginConnectRequest(userId: "user-1", platform: .mastodon))
      let redirect = try await h.authorize(begun.authorizeUrl)
      _ = try await h.connections.completeConnect(
        Connections.CompleteConnectRequest(platform: .mastodon, state: redirect.state, code: redirect.code))
      _ = try await h.connections.disconnect(Connections.DisconnectRequest(userId: "user-1", platform: .bluesky))

      // Every secret that crossed the wire: bearer tokens, the app password, the code, the
      // state, the PKCE verifier and the client secret (from the sandbox's request log).
      var secrets: Set<String> = [samplePassword, try #require(redirect.code), try #require(redirect.state)]
      for request in h.sandbox.requests() {
        if let authorization = request.header("authorization"), authorization.hasPrefix("Bearer ") {
          secrets.insert(String(authorization.dropFirst("Bearer ".count)))
        }
        for field in request.bodyText.split(separator: "&") {
          let parts = field.split(separator: "=", maxSplits: 1)
          if parts.count == 2, ["client_secret", "code_verifier", "token", "code"].contains(String(parts[0])) {
            secrets.insert(String(parts[1]).removingPercentEncoding ?? String(parts[1]))
          }
        }
      }
      #expect(secrets.count >= 6)
      let document = try await h.accounts.getAccount(Accounts.GetAccountRequest(userId: "user-1"))
      let documentJSON = String(decoding: try JSONEncoder().encode(document), as: UTF8.self)
      let logs = h.logs.text
      #expect(!logs.isEmpty)
      for secret in secrets where secret.count >= 8 {
        #expect(!documentJSON.contains(secret), "account document holds a secret")
        #expect(!logs.contains(secret), "logs hold a secret")
      }
    }
  }
}
