import Foundation
import HayonRPC
import HayonStore
import HayonUsers
import Testing

@testable import AuthUsers

/// 50 family emoji: 50 characters, 1250 bytes of UTF-8.
private let longInBytes = String(repeating: "👨‍👩‍👧‍👦", count: 50)

@Suite("Users over RPC: bad input changes nothing")
struct BadInputTests {
  static let signUpCases: [(email: String, password: String, message: String)] = [
    ("", Fixture.password, "email is required"),
    ("   \n", Fixture.password, "email is required"),
    (String(repeating: "a", count: 245) + "@example.com", Fixture.password, "email must be at most 254 characters"),
    (String(repeating: "a", count: 1_000_000) + "@example.com", Fixture.password, "email must be at most 254 characters"),
    ("alice.example.com", Fixture.password, "email must contain exactly one @"),
    ("alice@@example.com", Fixture.password, "email must contain exactly one @"),
    ("@example.com", Fixture.password, "email needs a name before the @ and a domain after it"),
    ("alice@", Fixture.password, "email needs a name before the @ and a domain after it"),
    ("ålice@example.com", Fixture.password, "email must contain only ASCII letters, digits and punctuation"),
    ("al ice@example.com", Fixture.password, "email has characters before the @ that are not allowed"),
    ("alice..b@example.com", Fixture.password, "email has characters before the @ that are not allowed"),
    (".alice@example.com", Fixture.password, "email has characters before the @ that are not allowed"),
    (String(repeating: "a", count: 65) + "@example.com", Fixture.password, "email must have at most 64 characters before the @"),
    ("alice@localhost", Fixture.password, "email must end in a domain name such as example.com"),
    ("alice@exa_mple.com", Fixture.password, "email must end in a domain name such as example.com"),
    ("alice@-example.com", Fixture.password, "email must end in a domain name such as example.com"),
    ("alice@example..com", Fixture.password, "email must end in a domain name such as example.com"),
    ("alice@example.com", "", "password is required"),
    ("alice@example.com", "seven77", "password must be at least 8 characters"),
    ("alice@example.com", "ünï✓", "password must be at least 8 characters"),
    ("alice@example.com", String(repeating: "p", count: 129), "password must be at most 128 characters"),
    ("alice@example.com", longInBytes, "password must be at most 1024 bytes of UTF-8"),
    ("alice@example.com", String(repeating: "p", count: 2_000_000), "password must be at most 1024 bytes of UTF-8"),
  ]

  @Test(arguments: signUpCases)
  func signUpRefusesBadInput(email: String, password: String, message: String) async throws {
    try await withUsersService { harness in
      await expectRPCError(.invalidArgument, message) {
        _ = try await harness.client.signUp(Users.Credentials(email: email, password: password))
      }
      let total = try await harness.totalDocuments()
      #expect(total == 0)
    }
  }

  @Test func passwordPolicyBoundariesAreAccepted() async throws {
    try await withUsersService { harness in
      _ = try await harness.client.signUp(Users.Credentials(email: "a@example.com", password: "eight888"))
      _ = try await harness.client.signUp(Users.Credentials(email: "b@example.com", password: String(repeating: "p", count: 128)))
      // 128 characters of 4-byte emoji: 512 bytes, within both bounds.
      _ = try await harness.client.signUp(Users.Credentials(email: "c@example.com", password: String(repeating: "🔑", count: 128)))
      let longest = String(repeating: "a", count: 64) + "@" + String(repeating: "b", count: 63) + "."
        + String(repeating: "c", count: 63) + "." + String(repeating: "d", count: 57) + ".com"
      #expect(longest.utf8.count == 254)
      _ = try await harness.client.signUp(Users.Credentials(email: longest, password: Fixture.password))
      _ = try await harness.client.signUp(Users.Credentials(email: "o'brien+tag@mail.example.co.uk", password: Fixture.password))
      // 896 bytes as sent, 1664 after NFC (each U+0344 becomes two marks): the policy's bound is
      // on what was sent, and the hasher must not refuse it.
      let growsUnderNFC = String(repeating: "-" + String(repeating: "\u{0344}", count: 3), count: 128)
      #expect(growsUnderNFC.utf8.count == 896 && growsUnderNFC.count == 128)
      #expect(growsUnderNFC.precomposedStringWithCanonicalMapping.utf8.count == 1664)
      _ = try await harness.client.signUp(Users.Credentials(email: "nfc@example.com", password: growsUnderNFC))
      _ = try await harness.client.login(Users.Credentials(email: "nfc@example.com", password: growsUnderNFC))
      #expect(try await harness.documentCounts()[UsersStore.users] == 6)
    }
  }

  static let loginCases: [(email: String, password: String, message: String)] = [
    ("", Fixture.password, "email is required"),
    ("not-an-address", Fixture.password, "email must contain exactly one @"),
    (String(repeating: "a", count: 300_000), Fixture.password, "email must be at most 254 characters"),
    ("alice@example.com", "", "password is required"),
    ("alice@example.com", String(repeating: "p", count: 1025), "password must be at most 1024 bytes of UTF-8"),
  ]

  @Test(arguments: loginCases)
  func loginRefusesBadInputWithoutCountingAnAttempt(email: String, password: String, message: String) async throws {
    try await withUsersService { harness in
      _ = try await harness.client.signUp(Users.Credentials(email: "alice@example.com", password: Fixture.password))
      let before = try await harness.documentCounts()
      await expectRPCError(.invalidArgument, message) {
        _ = try await harness.client.login(Users.Credentials(email: email, password: password))
      }
      #expect(try await harness.documentCounts() == before)
      #expect(before[UsersStore.loginThrottle] == 0)
    }
  }

  static let tokenCases: [(token: String, message: String)] = [
    ("", "refreshToken is required"),
    (String(repeating: "r", count: 257), "refreshToken must be at most 256 bytes"),
    (String(repeating: "r", count: 3_000_000), "refreshToken must be at most 256 bytes"),
  ]

  @Test(arguments: tokenCases)
  func refreshAndLogoutRefuseMalformedTokens(token: String, message: String) async throws {
    try await withUsersService { harness in
      _ = try await harness.client.signUp(Users.Credentials(email: "alice@example.com", password: Fixture.password))
      let before = try await harness.allStoredText()
      await expectRPCError(.invalidArgument, message) {
        _ = try await harness.client.refresh(Users.RefreshTokenRequest(refreshToken: token))
      }
      await expectRPCError(.invalidArgument, message) {
        _ = try await harness.client.logout(Users.RefreshTokenRequest(refreshToken: token))
      }
      #expect(try await harness.allStoredText() == before)
    }
  }

  @Test(arguments: [
    ("", "accessToken is required"),
    (String(repeating: "t", count: 4097), "accessToken must be at most 4096 bytes"),
    (String(repeating: "t", count: 3_000_000), "accessToken must be at most 4096 bytes"),
  ])
  func verifyRefusesMalformedTokens(token: String, message: String) async throws {
    try await withUsersService { harness in
      await expectRPCError(.invalidArgument, message) {
        _ = try await harness.client.verifyAccessToken(Users.VerifyAccessTokenRequest(accessToken: token))
      }
    }
  }

  @Test(arguments: ["", "has space", "slash/y", String(repeating: "u", count: 65), "ünicode"])
  func getUserRefusesMalformedIds(userId: String) async throws {
    try await withUsersService { harness in
      await expectRPCError(.invalidArgument, "userId must be 1-64 characters of [A-Za-z0-9_-]") {
        _ = try await harness.client.getUser(Users.GetUserRequest(userId: userId))
      }
    }
  }

  @Test func getUserOfUnknownIdIsNotFound() async throws {
    try await withUsersService { harness in
      await expectRPCError(.notFound, "no user with that id") {
        _ = try await harness.client.getUser(Users.GetUserRequest(userId: "no-such-user"))
      }
    }
  }

  @Test func errorsNeverEchoTheInput() async throws {
    try await withUsersService { harness in
      let secretish = "s3cr3t-value-\(UInt64.random(in: 1...UInt64.max))"
      let calls: [@Sendable () async throws -> Void] = [
        { _ = try await harness.client.signUp(Users.Credentials(email: secretish, password: secretish)) },
        { _ = try await harness.client.signUp(Users.Credentials(email: "x@example.com", password: secretish + "\u{1F511}" + String(repeating: "x", count: 200))) },
        { _ = try await harness.client.login(Users.Credentials(email: "x@example.com", password: secretish)) },
        { _ = try await harness.client.refresh(Users.RefreshTokenRequest(refreshToken: secretish)) },
        { _ = try await harness.client.logout(Users.RefreshTokenRequest(refreshToken: secretish)) },
        { _ = try await harness.client.verifyAccessToken(Users.VerifyAccessTokenRequest(accessToken: secretish)) },
      ]
      for call in calls {
        do {
          try await call()
          Issue.record("expected a failure")
        } catch let error as RPCError {
          #expect(!error.message.contains(secretish))
          #expect(!error.metadata.contains { $0.value.contains(secretish) })
        }
      }
      for line in harness.logs.all { #expect(!line.contains(secretish)) }
    }
  }
}
