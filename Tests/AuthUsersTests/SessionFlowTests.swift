import Foundation
import HayonCrypto
import HayonModel
import HayonRPC
import HayonStore
import HayonUsers
import Testing

@testable import AuthUsers

@Suite("Users over RPC: sessions and tokens")
struct SessionFlowTests {
  @Test func signUpLoginVerifyRefreshReuseAndLogout() async throws {
    try await withUsersService { harness in
      let client = harness.client
      let signedUp = try await client.signUp(Users.Credentials(email: "  Alice@Example.COM ", password: Fixture.password))
      #expect(signedUp.user.email == "alice@example.com")
      #expect(UserID.isValid(signedUp.user.userId))
      #expect(signedUp.user.createdAt == Timestamp(harness.clock.now))
      #expect(signedUp.tokens.accessTokenExpiresAt == Timestamp(harness.clock.now.addingTimeInterval(15 * 60)))
      #expect(signedUp.tokens.refreshTokenExpiresAt == Timestamp(harness.clock.now.addingTimeInterval(30 * 86_400)))
      #expect(signedUp.tokens.refreshToken.utf8.count == 43)

      // Login with the address spelled differently finds the same account, in a new session.
      let login = try await client.login(Users.Credentials(email: "ALICE@example.com", password: Fixture.password))
      #expect(login.user == signedUp.user)
      #expect(login.tokens.refreshToken != signedUp.tokens.refreshToken)

      let verified = try await client.verifyAccessToken(Users.VerifyAccessTokenRequest(accessToken: login.tokens.accessToken))
      #expect(verified == Users.VerifiedAccessToken(
        userId: signedUp.user.userId, email: "alice@example.com", expiresAt: login.tokens.accessTokenExpiresAt))

      // Refresh: a new pair; the new access token verifies; the old refresh token is dead.
      harness.clock.advance(by: .minutes(5))
      let rotated = try await client.refresh(Users.RefreshTokenRequest(refreshToken: login.tokens.refreshToken))
      #expect(rotated.refreshToken != login.tokens.refreshToken)
      #expect(rotated.refreshTokenExpiresAt == Timestamp(harness.clock.now.addingTimeInterval(30 * 86_400)))
      let verifiedAgain = try await client.verifyAccessToken(Users.VerifyAccessTokenRequest(accessToken: rotated.accessToken))
      #expect(verifiedAgain.userId == signedUp.user.userId)
      #expect(verifiedAgain.expiresAt == rotated.accessTokenExpiresAt)

      await expectRPCError(.unauthenticated, Users.Messages.invalidRefreshToken) {
        _ = try await client.refresh(Users.RefreshTokenRequest(refreshToken: login.tokens.refreshToken))
      }
      // That replay was reuse: the token it was rotated into is dead too (the family is revoked).
      await expectRPCError(.unauthenticated, Users.Messages.invalidRefreshToken) {
        _ = try await client.refresh(Users.RefreshTokenRequest(refreshToken: rotated.refreshToken))
      }
      let loginSessions = try await harness.store.query(
        SessionRecord.self, from: UsersStore.sessions, where: [Field("userId") == .string(signedUp.user.userId)])
      let revoked = loginSessions.items.filter { $0.value.isRevoked }
      #expect(revoked.count == 1)
      #expect(revoked.first?.value.revocationReason == .refreshTokenReuse)
      #expect(harness.logs.all.contains { $0.contains("the session is revoked") })

      // The sign-up session is untouched by the other session's revocation.
      let signUpRotated = try await client.refresh(Users.RefreshTokenRequest(refreshToken: signedUp.tokens.refreshToken))

      // Logout ends that session; its refresh token is refused afterwards; logging out twice is fine.
      _ = try await client.logout(Users.RefreshTokenRequest(refreshToken: signUpRotated.refreshToken))
      await expectRPCError(.unauthenticated, Users.Messages.invalidRefreshToken) {
        _ = try await client.refresh(Users.RefreshTokenRequest(refreshToken: signUpRotated.refreshToken))
      }
      _ = try await client.logout(Users.RefreshTokenRequest(refreshToken: signUpRotated.refreshToken))
      let all = try await harness.store.query(SessionRecord.self, from: UsersStore.sessions).items
      #expect(all.count == 2)
      #expect(all.allSatisfy { $0.value.isRevoked })
      #expect(all.contains { $0.value.revocationReason == .logout })

      // A token nobody issued is refused by logout as well.
      await expectRPCError(.unauthenticated, Users.Messages.invalidRefreshToken) {
        _ = try await client.logout(Users.RefreshTokenRequest(refreshToken: SecureRandom.token()))
      }

      // GetUser returns the account; nothing secret was logged or stored in the clear.
      #expect(try await client.getUser(Users.GetUserRequest(userId: signedUp.user.userId)) == signedUp.user)
      let secrets = [
        Fixture.password, signedUp.tokens.accessToken, signedUp.tokens.refreshToken, login.tokens.accessToken,
        login.tokens.refreshToken, rotated.accessToken, rotated.refreshToken, signUpRotated.refreshToken,
        signUpRotated.accessToken,
      ]
      let stored = try await harness.allStoredText()
      let passwordHash = try #require(try await harness.store.get(UserRecord.self, from: UsersStore.users, id: signedUp.user.userId))
        .value.passwordHash
      #expect(passwordHash.hasPrefix("scrypt$16$1$1$"))
      for secret in secrets {
        #expect(!stored.contains(secret))
        for line in harness.logs.all { #expect(!line.contains(secret)) }
      }
      for line in harness.logs.all {
        #expect(!line.contains(passwordHash))
        #expect(!line.contains("alice@example.com"))
      }
    }
  }

  @Test func refreshTokensAreStoredOnlyAsHashes() async throws {
    try await withUsersService { harness in
      let session = try await harness.client.signUp(Users.Credentials(email: "bob@example.com", password: Fixture.password))
      let id = UsersService.refreshTokenID(session.tokens.refreshToken)
      #expect(id == Base64URL.encode(Digest.sha256(Array(session.tokens.refreshToken.utf8))))
      let record = try #require(try await harness.store.get(RefreshTokenRecord.self, from: UsersStore.refreshTokens, id: id))
      #expect(record.value.userId == session.user.userId)
      #expect(record.value.usedAt == nil)
    }
  }

  @Test func expiredAccessTokenIsRefusedAndRefreshStillWorks() async throws {
    try await withUsersService { harness in
      let session = try await harness.client.signUp(Users.Credentials(email: "carol@example.com", password: Fixture.password))
      let request = Users.VerifyAccessTokenRequest(accessToken: session.tokens.accessToken)
      harness.clock.advance(by: .seconds(15 * 60 - 1))
      _ = try await harness.client.verifyAccessToken(request)
      harness.clock.advance(by: .seconds(1))
      await expectRPCError(.unauthenticated, Users.Messages.expiredAccessToken) {
        _ = try await harness.client.verifyAccessToken(request)
      }
      let fresh = try await harness.client.refresh(Users.RefreshTokenRequest(refreshToken: session.tokens.refreshToken))
      #expect(try await harness.client.verifyAccessToken(Users.VerifyAccessTokenRequest(accessToken: fresh.accessToken)).userId
        == session.user.userId)
    }
  }

  @Test func expiredRefreshTokenIsRefused() async throws {
    try await withUsersService { harness in
      let session = try await harness.client.signUp(Users.Credentials(email: "dave@example.com", password: Fixture.password))
      harness.clock.advance(by: .days(30))
      await expectRPCError(.unauthenticated, Users.Messages.expiredRefreshToken) {
        _ = try await harness.client.refresh(Users.RefreshTokenRequest(refreshToken: session.tokens.refreshToken))
      }
    }
  }

  @Test func tamperedAndForeignTokensAreRefused() async throws {
    try await withUsersService { harness in
      let session = try await harness.client.signUp(Users.Credentials(email: "erin@example.com", password: Fixture.password))
      let token = session.tokens.accessToken
      let parts = token.split(separator: ".").map(String.init)
      try #require(parts.count == 3)

      // Claims rewritten to another subject, signature kept.
      let otherClaims = #"{"exp":9999999999,"iat":1800000000,"jti":"x","sub":"someone-else","typ":"access"}"#
      let forgedSubject = parts[0] + "." + Base64URL.encode(Array(otherClaims.utf8)) + "." + parts[2]
      // One signature character changed.
      var signature = Array(parts[2])
      signature[0] = signature[0] == "A" ? "B" : "A"
      let flippedSignature = parts[0] + "." + parts[1] + "." + String(signature)
      // `alg: none` with no signature.
      let none = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + parts[1] + "."
      // Properly signed, but with a key the service does not hold.
      let foreignSigner = try TokenSigner(keyRing: try Fixture.signingKeys(), clock: harness.clock)
      let foreign = try foreignSigner.issue(subject: session.user.userId, type: "access").token
      // Signed with the service's own key, but not an access token.
      let ownSigner = try TokenSigner(keyRing: harness.signingKeys, clock: harness.clock)
      let wrongType = try ownSigner.issue(subject: session.user.userId, type: "refresh").token
      // Signed and typed right, for a user that does not exist.
      let ghost = try ownSigner.issue(subject: "no-such-user", type: "access").token

      for candidate in [
        forgedSubject, flippedSignature, none, foreign, wrongType, ghost, session.tokens.refreshToken, "a.b.c", "garbage",
      ] {
        await expectRPCError(.unauthenticated, Users.Messages.invalidAccessToken) {
          _ = try await harness.client.verifyAccessToken(Users.VerifyAccessTokenRequest(accessToken: candidate))
        }
      }
      // The genuine one still passes.
      _ = try await harness.client.verifyAccessToken(Users.VerifyAccessTokenRequest(accessToken: token))
    }
  }

  @Test func tokensSignedBeforeAKeyRotationStillVerify() async throws {
    let store = try await SQLiteStore(.inMemory, schema: UsersStore.schema)
    let ring = try KeyRing(
      keys: ["k1": SymmetricKey.random(), "k2": SymmetricKey.random()], current: "k1", allowedKeyLengths: 32...64)
    let clock = AdjustableClock()
    let session = try await withUsersService(store: store, clock: clock, signingKeys: ring) { harness in
      try await harness.client.signUp(Users.Credentials(email: "kim@example.com", password: Fixture.password))
    }
    try await withUsersService(store: store, clock: clock, signingKeys: try ring.rotated(to: "k2")) { harness in
      let old = try await harness.client.verifyAccessToken(
        Users.VerifyAccessTokenRequest(accessToken: session.tokens.accessToken))
      #expect(old.userId == session.user.userId)
      let fresh = try await harness.client.refresh(Users.RefreshTokenRequest(refreshToken: session.tokens.refreshToken))
      #expect(fresh.accessToken.hasPrefix(Base64URL.encode(Array(#"{"alg":"HS256","kid":"k2","typ":"JWT"}"#.utf8))))
    }
    // Once k1 is dropped from the ring, its tokens are refused.
    let onlyK2 = try KeyRing(keys: ["k2": SymmetricKey.random()], current: "k2", allowedKeyLengths: 32...64)
    try await withUsersService(store: store, clock: clock, signingKeys: onlyK2) { harness in
      await expectRPCError(.unauthenticated, Users.Messages.invalidAccessToken) {
        _ = try await harness.client.verifyAccessToken(Users.VerifyAccessTokenRequest(accessToken: session.tokens.accessToken))
      }
    }
    await store.close()
  }

  @Test func verifyAfterRestartReadsTheEmailOnce() async throws {
    try await withTemporaryDirectory { directory in
      let path = directory.appendingPathComponent("auth.sqlite").path
      let keys = try Fixture.signingKeys()
      let clock = AdjustableClock()
      let store = try await SQLiteStore(.file(path), schema: UsersStore.schema)
      let session = try await withUsersService(store: store, clock: clock, signingKeys: keys) { harness in
        try await harness.client.signUp(Users.Credentials(email: "frank@example.com", password: Fixture.password))
      }
      await store.close()
      // A new process: empty cache, same database and keys.
      let reopened = try await SQLiteStore(.file(path), schema: UsersStore.schema)
      try await withUsersService(store: reopened, clock: clock, signingKeys: keys) { harness in
        let verified = try await harness.client.verifyAccessToken(
          Users.VerifyAccessTokenRequest(accessToken: session.tokens.accessToken))
        #expect(verified.email == "frank@example.com")
      }
      await reopened.close()
    }
  }

  @Test func purgeRemovesOnlyExpiredData() async throws {
    try await withUsersService { harness in
      let old = try await harness.client.signUp(Users.Credentials(email: "gina@example.com", password: Fixture.password))
      await expectRPCError(.unauthenticated, Users.Messages.incorrectCredentials) {
        _ = try await harness.client.login(Users.Credentials(email: "nobody@example.com", password: "wrong password"))
      }
      harness.clock.advance(by: .days(20))
      let recent = try await harness.client.login(Users.Credentials(email: "gina@example.com", password: Fixture.password))
      #expect(try await harness.service.purgeExpired() == 1)  // the throttle record of the failure
      harness.clock.advance(by: .days(11))
      // The sign-up session and its token have expired; the recent login has not.
      #expect(try await harness.service.purgeExpired() == 2)
      let counts = try await harness.documentCounts()
      #expect(counts[UsersStore.sessions] == 1)
      #expect(counts[UsersStore.refreshTokens] == 1)
      #expect(counts[UsersStore.users] == 1)
      await expectRPCError(.unauthenticated, Users.Messages.invalidRefreshToken) {
        _ = try await harness.client.refresh(Users.RefreshTokenRequest(refreshToken: old.tokens.refreshToken))
      }
      _ = try await harness.client.refresh(Users.RefreshTokenRequest(refreshToken: recent.tokens.refreshToken))
    }
  }

  @Test func periodicPurgeRunsUntilCancelled() async throws {
    try await withUsersService { harness in
      _ = try await harness.client.signUp(Users.Credentials(email: "hal@example.com", password: Fixture.password))
      harness.clock.advance(by: .days(31))
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await harness.service.purgeExpiredPeriodically(every: .milliseconds(5)) }
        // Wait for the effect (bounded), then stop the loop by cancelling it.
        let deadline = ContinuousClock.now + .seconds(10)
        while try await harness.documentCounts()[UsersStore.sessions] != 0, ContinuousClock.now < deadline {
          await Task.yield()
        }
        group.cancelAll()
        try await group.waitForAll()
      }
      let counts = try await harness.documentCounts()
      #expect(counts[UsersStore.sessions] == 0)
      #expect(counts[UsersStore.refreshTokens] == 0)
      #expect(counts[UsersStore.users] == 1)
    }
  }

  @Test func newLoginsBeyondTheSessionLimitEndTheOldest() async throws {
    try await withUsersService(configuration: Fixture.configuration { $0.maximumSessionsPerUser = 2 }) { harness in
      let credentials = Users.Credentials(email: "ivy@example.com", password: Fixture.password)
      let first = try await harness.client.signUp(credentials)
      let second = try await harness.client.login(credentials)
      let third = try await harness.client.login(credentials)
      await expectRPCError(.unauthenticated, Users.Messages.invalidRefreshToken) {
        _ = try await harness.client.refresh(Users.RefreshTokenRequest(refreshToken: first.tokens.refreshToken))
      }
      _ = try await harness.client.refresh(Users.RefreshTokenRequest(refreshToken: second.tokens.refreshToken))
      _ = try await harness.client.refresh(Users.RefreshTokenRequest(refreshToken: third.tokens.refreshToken))
      let sessions = try await harness.store.query(SessionRecord.self, from: UsersStore.sessions).items
      #expect(sessions.filter { $0.value.revocationReason == .sessionLimit }.count == 1)
      #expect(sessions.filter { !$0.value.isRevoked }.count == 2)
    }
  }
}
