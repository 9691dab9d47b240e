import Foundation
import HayonCrypto
import HayonModel
import HayonRPC
import HayonStore
import HayonUsers
import Testing

@testable import AuthUsers

@Suite("Users over RPC: login, throttling, password hashing")
struct LoginTests {
  @Test func wrongPasswordAndUnknownEmailGetTheSameAnswer() async throws {
    try await withUsersService { harness in
      _ = try await harness.client.signUp(Users.Credentials(email: "alice@example.com", password: Fixture.password))
      let before = try await harness.documentCounts()
      let wrongPassword = await expectRPCError(.unauthenticated, Users.Messages.incorrectCredentials) {
        _ = try await harness.client.login(Users.Credentials(email: "alice@example.com", password: "not the password"))
      }
      let unknownEmail = await expectRPCError(.unauthenticated, Users.Messages.incorrectCredentials) {
        _ = try await harness.client.login(Users.Credentials(email: "nobody@example.com", password: "not the password"))
      }
      #expect(wrongPassword == unknownEmail)
      // Both cost exactly one password hash (sign-up was the first).
      #expect(harness.service.hashing.finishedJobs == 3)
      // Neither made a session; each counted one failure for its email.
      let after = try await harness.documentCounts()
      #expect(after[UsersStore.sessions] == before[UsersStore.sessions])
      #expect(after[UsersStore.refreshTokens] == before[UsersStore.refreshTokens])
      #expect(after[UsersStore.users] == 1)
      #expect(after[UsersStore.loginThrottle] == 2)
    }
  }

  @Test func throttlesAfterRepeatedFailuresAndRecoversWithTime() async throws {
    try await withUsersService { harness in
      let client = harness.client
      _ = try await client.signUp(Users.Credentials(email: "alice@example.com", password: Fixture.password))
      for _ in 1...5 {
        harness.clock.advance(by: .seconds(30))
        await expectRPCError(.unauthenticated, Users.Messages.incorrectCredentials) {
          _ = try await client.login(Users.Credentials(email: "alice@example.com", password: "guess guess"))
        }
      }
      // Locked now, even for the right password, for 15 minutes from the fifth failure.
      let lockedAt = harness.clock.now
      let error = await expectRPCError(.resourceExhausted, "too many login attempts; try again in 15 minutes") {
        _ = try await client.login(Users.Credentials(email: "Alice@Example.com", password: Fixture.password))
      }
      #expect(error?.metadata[Users.retryAfterMetadataKey] == Timestamp(lockedAt.addingTimeInterval(15 * 60)).iso8601)
      // Another email is not affected.
      await expectRPCError(.unauthenticated, Users.Messages.incorrectCredentials) {
        _ = try await client.login(Users.Credentials(email: "bob@example.com", password: "guess guess"))
      }
      harness.clock.advance(by: .seconds(14 * 60 + 30))
      await expectRPCError(.resourceExhausted, "too many login attempts; try again in 1 minute") {
        _ = try await client.login(Users.Credentials(email: "alice@example.com", password: Fixture.password))
      }
      harness.clock.advance(by: .seconds(30))
      _ = try await client.login(Users.Credentials(email: "alice@example.com", password: Fixture.password))
      #expect(try await harness.store.get(UsersStore.loginThrottle, id: "alice@example.com") == nil)
    }
  }

  @Test func unknownEmailsAreThrottledLikeKnownOnes() async throws {
    try await withUsersService { harness in
      for _ in 1...5 {
        await expectRPCError(.unauthenticated, Users.Messages.incorrectCredentials) {
          _ = try await harness.client.login(Users.Credentials(email: "ghost@example.com", password: "guess guess"))
        }
      }
      await expectRPCError(.resourceExhausted, "too many login attempts; try again in 15 minutes") {
        _ = try await harness.client.login(Users.Credentials(email: "ghost@example.com", password: "guess guess"))
      }
      let counts = try await harness.documentCounts()
      #expect(counts[UsersStore.users] == 0)
    }
  }

  @Test func successResetsTheFailureCount() async throws {
    try await withUsersService { harness in
      let client = harness.client
      _ = try await client.signUp(Users.Credentials(email: "alice@example.com", password: Fixture.password))
      for _ in 1...2 {
        for _ in 1...4 {
          await expectRPCError(.unauthenticated, Users.Messages.incorrectCredentials) {
            _ = try await client.login(Users.Credentials(email: "alice@example.com", password: "guess guess"))
          }
        }
        _ = try await client.login(Users.Credentials(email: "alice@example.com", password: Fixture.password))
      }
    }
  }

  @Test func failuresOutsideTheWindowDoNotAccumulate() async throws {
    try await withUsersService { harness in
      let client = harness.client
      for _ in 1...4 {
        await expectRPCError(.unauthenticated, Users.Messages.incorrectCredentials) {
          _ = try await client.login(Users.Credentials(email: "alice@example.com", password: "guess guess"))
        }
      }
      harness.clock.advance(by: .minutes(15))
      // A new window: four more failures are still answered, not throttled.
      for _ in 1...4 {
        await expectRPCError(.unauthenticated, Users.Messages.incorrectCredentials) {
          _ = try await client.login(Users.Credentials(email: "alice@example.com", password: "guess guess"))
        }
      }
    }
  }

  @Test func throttleSurvivesARestart() async throws {
    try await withTemporaryDirectory { directory in
      let path = directory.appendingPathComponent("auth.sqlite").path
      let clock = AdjustableClock()
      let store = try await SQLiteStore(.file(path), schema: UsersStore.schema)
      try await withUsersService(store: store, clock: clock) { harness in
        _ = try await harness.client.signUp(Users.Credentials(email: "alice@example.com", password: Fixture.password))
        for _ in 1...5 {
          await expectRPCError(.unauthenticated, Users.Messages.incorrectCredentials) {
            _ = try await harness.client.login(Users.Credentials(email: "alice@example.com", password: "guess guess"))
          }
        }
      }
      await store.close()
      let reopened = try await SQLiteStore(.file(path), schema: UsersStore.schema)
      try await withUsersService(store: reopened, clock: clock) { harness in
        await expectRPCError(.resourceExhausted, "too many login attempts; try again in 15 minutes") {
          _ = try await harness.client.login(Users.Credentials(email: "alice@example.com", password: Fixture.password))
        }
      }
      await reopened.close()
    }
  }

  @Test func duplicateEmailIsRefusedWhateverItsSpelling() async throws {
    try await withUsersService { harness in
      _ = try await harness.client.signUp(Users.Credentials(email: "alice@example.com", password: Fixture.password))
      let before = try await harness.documentCounts()
      await expectRPCError(.alreadyExists, Users.Messages.emailTaken) {
        _ = try await harness.client.signUp(Users.Credentials(email: " ALICE@example.com\n", password: "another password"))
      }
      #expect(try await harness.documentCounts() == before)
    }
  }

  @Test func concurrentSignUpsWithOneEmailMakeOneAccount() async throws {
    try await withUsersService { harness in
      let client = harness.client
      let outcomes = await withTaskGroup(of: RPCStatusCode.self) { group in
        for _ in 0..<6 {
          group.addTask {
            do {
              _ = try await client.signUp(Users.Credentials(email: "race@example.com", password: Fixture.password))
              return .ok
            } catch let error as RPCError {
              return error.code
            } catch {
              return .unknown
            }
          }
        }
        var codes: [RPCStatusCode] = []
        for await code in group { codes.append(code) }
        return codes
      }
      #expect(outcomes.filter { $0 == .ok }.count == 1)
      #expect(outcomes.filter { $0 == .alreadyExists }.count == 5)
      let counts = try await harness.documentCounts()
      #expect(counts[UsersStore.users] == 1)
      #expect(counts[UsersStore.userEmails] == 1)
      #expect(counts[UsersStore.sessions] == 1)
    }
  }

  @Test func loginRehashesPasswordsMadeWithAnOlderCost() async throws {
    let store = try await SQLiteStore(.inMemory, schema: UsersStore.schema)
    let keys = try Fixture.signingKeys()
    let session = try await withUsersService(store: store, signingKeys: keys) { harness in
      try await harness.client.signUp(Users.Credentials(email: "alice@example.com", password: Fixture.password))
    }
    let stronger = Fixture.configuration {
      $0.passwordHashing.parameters = ScryptParameters(cost: 32, blockSize: 1, parallelism: 1)
    }
    try await withUsersService(store: store, signingKeys: keys, configuration: stronger) { harness in
      _ = try await harness.client.login(Users.Credentials(email: "alice@example.com", password: Fixture.password))
      let user = try #require(try await store.get(UserRecord.self, from: UsersStore.users, id: session.user.userId))
      #expect(user.value.passwordHash.hasPrefix("scrypt$32$1$1$"))
      _ = try await harness.client.login(Users.Credentials(email: "alice@example.com", password: Fixture.password))
    }
    await store.close()
  }

  @Test func defaultsAreTheStrongOnes() async throws {
    let defaults = UsersConfiguration.defaults
    #expect(defaults.passwordHashing.parameters == ScryptParameters(cost: 1 << 15, blockSize: 8, parallelism: 1))
    #expect(defaults.passwordHashing.saltLength >= 16)
    #expect(defaults.accessTokenLifetime == .seconds(15 * 60))
    #expect(defaults.refreshTokenLifetime == .seconds(30 * 86_400))
    #expect(defaults.loginThrottle == LoginThrottlePolicy(maximumFailures: 5, window: .seconds(900), lockout: .seconds(900)))
    #expect(defaults.maximumSessionsPerUser == 50)
    #expect(UsersService.refreshTokenRandomBytes * 8 >= 256)

    // And a service built with them stores hashes at that cost.
    try await withUsersService(configuration: .defaults) { harness in
      let session = try await harness.client.signUp(Users.Credentials(email: "strong@example.com", password: Fixture.password))
      let user = try #require(try await harness.store.get(UserRecord.self, from: UsersStore.users, id: session.user.userId))
      #expect(user.value.passwordHash.hasPrefix("scrypt$32768$8$1$"))
    }
  }

  @Test(arguments: [
    ("accessTokenLifetime must be at least 1 second", Fixture.configuration { $0.accessTokenLifetime = .zero }),
    ("refreshTokenLifetime must be longer than accessTokenLifetime",
     Fixture.configuration { $0.refreshTokenLifetime = .seconds(60) }),
    ("loginThrottle.maximumFailures must be 1...1000", Fixture.configuration { $0.loginThrottle.maximumFailures = 0 }),
    ("maximumConcurrentPasswordHashes must be 1...64", Fixture.configuration { $0.maximumConcurrentPasswordHashes = 0 }),
    ("maximumSessionsPerUser must be 1...1000", Fixture.configuration { $0.maximumSessionsPerUser = 0 }),
  ])
  func unusableConfigurationIsRefused(message: String, configuration: UsersConfiguration) async throws {
    let store = try await SQLiteStore(.inMemory, schema: UsersStore.schema)
    #expect(throws: UsersConfigurationError(message)) {
      _ = try UsersService(store: store, signingKeys: try Fixture.signingKeys(), configuration: configuration)
    }
    await store.close()
  }
}
