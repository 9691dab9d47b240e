import AccountService
import Foundation
import HayonAccount
import HayonModel
import HayonRPC
import HayonStore
import Testing

@Suite("account-service over RPC")
struct AccountServiceRPCTests {
  @Test("GetAccount answers the document's exact JSON, from the cache and after every write")
  func getAccountBytes() async throws {
    try await withAccountServer { harness in
      let user = Sample.userId
      let codec = JSONMessageCodec()
      func wire() async throws -> [UInt8] {
        try await harness.client.rpc.callReturningJSON(Accounts.Method.GetAccount.self, .init(userId: user))
      }
      let empty = try codec.encode(Accounts.SocialAccount.empty(userId: user))
      #expect(try await wire() == empty)  // read from the store
      #expect(try await wire() == empty)  // from the cache
      let connected = try await harness.client.markConnected(Sample.connect(.bluesky, platformId: "did:plc:abc123"))
      #expect(try await wire() == (try codec.encode(connected)))
      let disconnected = try await harness.client.markDisconnected(.init(userId: user, platform: .bluesky))
      #expect(try await wire() == (try codec.encode(disconnected)))
      #expect(try await harness.client.getAccount(.init(userId: user)) == disconnected)
    }
  }

  @Test("connect, read, health events, list needing reconnection, disconnect")
  func lifecycle() async throws {
    try await withAccountServer { harness in
      let client = harness.client
      let user = Sample.userId

      // Nothing connected yet: the full default document, and nothing to reconnect.
      #expect(try await client.getAccount(.init(userId: user)) == .empty(userId: user))
      #expect(try await client.listNeedingReconnection(.init()).accounts.isEmpty)

      let connectedAt = harness.clock.timestamp
      let connected = try await client.markConnected(Sample.connect(.bluesky, platformId: "did:plc:abc123"))
      let bluesky = connected[.bluesky]
      #expect(bluesky.connected)
      #expect(bluesky.platformId == "did:plc:abc123")
      #expect(bluesky.profile == Sample.profile())
      #expect(bluesky.platformFields == .bluesky(did: "did:plc:abc123", pdsUrl: "https://pds.example"))
      #expect(bluesky.connectedAt == connectedAt)
      #expect(bluesky.health == .freshConnection(at: connectedAt))
      #expect(connected.platforms.filter(\.connected).map(\.platform) == [.bluesky])
      #expect(try await client.getAccount(.init(userId: user)) == connected)

      // Two errors: still active, failures counted, the last message kept.
      harness.clock.advance(seconds: 60)
      _ = try await client.recordHealthEvent(.init(userId: user, platform: .bluesky, event: .error(message: "HTTP 502")))
      harness.clock.advance(seconds: 60)
      let afterErrors = try await client.recordHealthEvent(
        .init(userId: user, platform: .bluesky, event: .error(message: "HTTP 503")))
      #expect(afterErrors[.bluesky].health?.status == .active)
      #expect(afterErrors[.bluesky].health?.consecutiveFailures == 2)
      #expect(afterErrors[.bluesky].health?.lastError == "HTTP 503")
      #expect(afterErrors[.bluesky].health?.updatedAt == harness.clock.timestamp)
      #expect(afterErrors[.bluesky].health?.lastSuccessfulRefresh == connectedAt)

      // A success resets them.
      harness.clock.advance(seconds: 60)
      let refreshed = try await client.recordHealthEvent(.init(userId: user, platform: .bluesky, event: .success))
      #expect(refreshed[.bluesky].health == .freshConnection(at: harness.clock.timestamp))

      // Expired: listed, for all platforms and for bluesky, not for mastodon.
      harness.clock.advance(seconds: 60)
      let expired = try await client.recordHealthEvent(.init(userId: user, platform: .bluesky, event: .authExpired))
      #expect(expired[.bluesky].health?.status == .expired)
      #expect(expired[.bluesky].needsReconnection)
      #expect(try await client.listNeedingReconnection(.init()).accounts == [expired])
      #expect(try await client.listNeedingReconnection(.init(platform: .bluesky)).accounts == [expired])
      #expect(try await client.listNeedingReconnection(.init(platform: .mastodon)).accounts.isEmpty)

      // Profile updates keep health.
      let newProfile = Accounts.Profile(displayName: nil, handle: "alice.bsky.social", avatarUrl: nil)
      let updated = try await client.updateProfile(.init(userId: user, platform: .bluesky, profile: newProfile))
      #expect(updated[.bluesky].profile == newProfile)
      #expect(updated[.bluesky].health == expired[.bluesky].health)

      // Reconnecting clears the need.
      harness.clock.advance(seconds: 60)
      let reconnected = try await client.markConnected(Sample.connect(.bluesky, platformId: "did:plc:abc123"))
      #expect(reconnected[.bluesky].health == .freshConnection(at: harness.clock.timestamp))
      #expect(try await client.listNeedingReconnection(.init()).accounts.isEmpty)

      // Revoked, then disconnected: back to the default sub-document and off the list.
      _ = try await client.recordHealthEvent(.init(userId: user, platform: .bluesky, event: .authRevoked))
      #expect(try await client.listNeedingReconnection(.init()).accounts.map(\.userId) == [user])
      let disconnected = try await client.markDisconnected(.init(userId: user, platform: .bluesky))
      #expect(disconnected == .empty(userId: user))
      #expect(try await client.listNeedingReconnection(.init()).accounts.isEmpty)
      // Idempotent: again changes nothing.
      #expect(try await client.markDisconnected(.init(userId: user, platform: .bluesky)) == .empty(userId: user))
      #expect(try await client.getAccount(.init(userId: user)) == .empty(userId: user))
    }
  }

  @Test("every platform connects with its own fields")
  func allPlatforms() async throws {
    try await withAccountServer { harness in
      var account = Accounts.SocialAccount.empty(userId: Sample.userId)
      for platform in Platform.allCases {
        account = try await harness.client.markConnected(Sample.connect(platform, platformId: "p-\(platform)"))
      }
      let connectedCount = account.platforms.filter { $0.connected }.count
      #expect(connectedCount == Platform.allCases.count)
      for platform in Platform.allCases {
        #expect(account[platform].platformFields == Sample.fields(for: platform))
        #expect(account[platform].platformId == "p-\(platform)")
      }
    }
  }

  @Test("listing pages through users in id order, filtered by platform")
  func paging() async throws {
    try await withAccountServer { harness in
      let client = harness.client
      // user_00 … user_06 need mastodon reconnection; odd ones also tumblr; user_99 is healthy.
      for index in 0..<7 {
        let user = "user_0\(index)"
        _ = try await client.markConnected(Sample.connect(.mastodon, userId: user))
        _ = try await client.recordHealthEvent(.init(userId: user, platform: .mastodon, event: .authRevoked))
        if index % 2 == 1 {
          _ = try await client.markConnected(Sample.connect(.tumblr, userId: user))
          _ = try await client.recordHealthEvent(.init(userId: user, platform: .tumblr, event: .authExpired))
        }
      }
      _ = try await client.markConnected(Sample.connect(.mastodon, userId: "user_99"))

      var seen: [String] = []
      var token: String?
      var pages = 0
      repeat {
        let page = try await client.listNeedingReconnection(.init(pageSize: 3, pageToken: token))
        #expect(page.accounts.count <= 3)
        seen += page.accounts.map(\.userId)
        token = page.nextPageToken
        pages += 1
      } while token != nil && pages < 10
      #expect(seen == (0..<7).map { "user_0\($0)" })

      let tumblr = try await client.listNeedingReconnection(.init(platform: .tumblr, pageSize: 100))
      #expect(tumblr.accounts.map(\.userId) == ["user_01", "user_03", "user_05"])
      #expect(tumblr.nextPageToken == nil)
      #expect(try await client.listNeedingReconnection(.init(platform: .facebook)).accounts.isEmpty)
    }
  }

  struct BadInput: Sendable, CustomTestStringConvertible {
    var name: String
    var code: RPCStatusCode
    var message: String
    var call: @Sendable (Accounts.Client) async throws -> Void
    var testDescription: String { name }
  }

  static func connect(_ change: @escaping @Sendable (inout Accounts.MarkConnectedRequest) -> Void) -> @Sendable (Accounts.Client) async throws -> Void {
    { client in
      var request = Sample.connect(.bluesky, platformId: "replacement")
      change(&request)
      _ = try await client.markConnected(request)
    }
  }

  static let originError = "an http(s) URL with a host and no path, query or fragment"

  static let badInputs: [BadInput] = [
    BadInput(
      name: "empty userId", code: .invalidArgument,
      message: "userId must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'",
      call: { _ = try await $0.getAccount(.init(userId: "")) }),
    BadInput(
      name: "userId with a slash", code: .invalidArgument,
      message: "userId must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'",
      call: { _ = try await $0.recordHealthEvent(.init(userId: "user/01", platform: .bluesky, event: .success)) }),
    BadInput(
      name: "userId too long", code: .invalidArgument,
      message: "userId must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'",
      call: { _ = try await $0.markDisconnected(.init(userId: String(repeating: "u", count: 65), platform: .bluesky)) }),
    BadInput(
      name: "empty platformId", code: .invalidArgument, message: "platformId must not be empty",
      call: connect { $0.platformId = "" }),
    BadInput(
      name: "platformId too long", code: .invalidArgument, message: "platformId must be at most 256 characters",
      call: connect { $0.platformId = String(repeating: "p", count: 257) }),
    BadInput(
      name: "handle with a newline", code: .invalidArgument, message: "profile.handle must not contain control characters",
      call: connect { $0.profile.handle = "alice\nbob" }),
    BadInput(
      name: "blank handle", code: .invalidArgument, message: "profile.handle must not be blank",
      call: connect { $0.profile.handle = "   " }),
    BadInput(
      name: "display name too long", code: .invalidArgument, message: "profile.displayName must be at most 256 characters",
      call: connect { $0.profile.displayName = String(repeating: "n", count: 257) }),
    BadInput(
      name: "javascript avatar", code: .invalidArgument, message: "profile.avatarUrl must be an http(s) URL",
      call: connect { $0.profile.avatarUrl = "javascript:alert(1)" }),
    BadInput(
      name: "avatar without a host", code: .invalidArgument, message: "profile.avatarUrl must be an http(s) URL",
      call: connect { $0.profile.avatarUrl = "https:///x.png" }),
    BadInput(
      name: "avatar with user info", code: .invalidArgument, message: "profile.avatarUrl must be an http(s) URL",
      call: connect { $0.profile.avatarUrl = "https://user:pw@cdn.example/a.png" }),
    BadInput(
      name: "missing did", code: .invalidArgument, message: "platformFields.did is required for bluesky",
      call: connect { $0.platformFields.did = nil }),
    BadInput(
      name: "malformed did", code: .invalidArgument,
      message: "platformFields.did must be a DID such as did:plc:abc123 (at most 256 characters)",
      call: connect { $0.platformFields.did = "plc:abc" }),
    BadInput(
      name: "PDS URL with a path", code: .invalidArgument, message: "platformFields.pdsUrl must be \(originError)",
      call: connect { $0.platformFields.pdsUrl = "https://pds.example/xrpc" }),
    BadInput(
      name: "PDS URL with ftp", code: .invalidArgument, message: "platformFields.pdsUrl must be \(originError)",
      call: connect { $0.platformFields.pdsUrl = "ftp://pds.example" }),
    BadInput(
      name: "a field of another platform", code: .invalidArgument,
      message: "platformFields.blog does not apply to bluesky",
      call: connect { $0.platformFields.blog = "alice" }),
    BadInput(
      name: "mastodon instance with a query", code: .invalidArgument,
      message: "platformFields.instanceUrl must be \(originError)",
      call: connect {
        $0.platform = .mastodon
        $0.platformFields = .mastodon(instanceUrl: "https://mastodon.example?x=1", accountId: "1")
      }),
    BadInput(
      name: "tumblr blog with a slash", code: .invalidArgument,
      message: "platformFields.blog must be 1 to 256 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'",
      call: connect {
        $0.platform = .tumblr
        $0.platformFields = .tumblr(blog: "alice/../posts")
      }),
    BadInput(
      name: "instagram without its page", code: .invalidArgument,
      message: "platformFields.facebookPageId is required for instagram",
      call: connect {
        $0.platform = .instagram
        $0.platformFields = .none
      }),
    BadInput(
      name: "empty error message", code: .invalidArgument, message: "event.message must not be empty",
      call: { _ = try await $0.recordHealthEvent(.init(userId: Sample.userId, platform: .bluesky, event: .error(message: " "))) }),
    BadInput(
      name: "error message too long", code: .invalidArgument, message: "event.message must be at most 2000 characters",
      call: {
        _ = try await $0.recordHealthEvent(
          .init(userId: Sample.userId, platform: .bluesky, event: .error(message: String(repeating: "e", count: 2001))))
      }),
    BadInput(
      name: "profile update with a bad avatar", code: .invalidArgument, message: "profile.avatarUrl must be an http(s) URL",
      call: {
        _ = try await $0.updateProfile(
          .init(userId: Sample.userId, platform: .bluesky, profile: .init(handle: "h", avatarUrl: "data:image/png;base64,AA")))
      }),
    BadInput(
      name: "health event for a platform not connected", code: .failedPrecondition,
      message: "tumblr is not connected for this user",
      call: { _ = try await $0.recordHealthEvent(.init(userId: Sample.userId, platform: .tumblr, event: .authRevoked)) }),
    BadInput(
      name: "profile update for a platform not connected", code: .failedPrecondition,
      message: "threads is not connected for this user",
      call: { _ = try await $0.updateProfile(.init(userId: Sample.userId, platform: .threads, profile: Sample.profile())) }),
    BadInput(
      name: "page size zero", code: .invalidArgument, message: "pageSize must be between 1 and 100",
      call: { _ = try await $0.listNeedingReconnection(.init(pageSize: 0)) }),
    BadInput(
      name: "page size too big", code: .invalidArgument, message: "pageSize must be between 1 and 100",
      call: { _ = try await $0.listNeedingReconnection(.init(pageSize: 101)) }),
    BadInput(
      name: "garbage page token", code: .invalidArgument, message: "pageToken is not a valid page token",
      call: { _ = try await $0.listNeedingReconnection(.init(pageToken: "!!not-a-token!!")) }),
  ]

  @Test("bad input: exact error, nothing changes", arguments: badInputs)
  func badInput(_ input: BadInput) async throws {
    try await withAccountServer { harness in
      let client = harness.client
      _ = try await client.markConnected(Sample.connect(.bluesky, platformId: "did:plc:abc123"))
      _ = try await client.recordHealthEvent(.init(userId: Sample.userId, platform: .bluesky, event: .error(message: "HTTP 500")))
      let before = try await client.getAccount(.init(userId: Sample.userId))
      let listedBefore = try await client.listNeedingReconnection(.init())
      harness.clock.advance(seconds: 5)

      await expectRPCError(input.code, input.message) { try await input.call(client) }

      #expect(try await client.getAccount(.init(userId: Sample.userId)) == before)
      #expect(try await client.listNeedingReconnection(.init()) == listedBefore)
    }
  }

  @Test("calls without the bearer credential are refused")
  func unauthenticated() async throws {
    try await withAccountServer { harness in
      var configuration = RPCClient.Configuration(target: harness.address, credential: nil)
      configuration.maxAttempts = 1
      let anonymous = Accounts.Client(try RPCClient(configuration: configuration))
      await expectRPCError(.unauthenticated, "missing or invalid credentials") {
        _ = try await anonymous.getAccount(.init(userId: Sample.userId))
      }
      await anonymous.rpc.close()
    }
  }

  @Test("a store failure is INTERNAL with a generic message; only the log has the cause")
  func storeFailure() async throws {
    try await withAccountServer { harness in
      await harness.store.close()
      await expectRPCError(.internal, "the account store failed") {
        _ = try await harness.client.getAccount(.init(userId: Sample.userId))
      }
      await expectRPCError(.internal, "the account store failed") {
        _ = try await harness.client.markConnected(Sample.connect(.bluesky))
      }
      let failures = harness.logs.collected.filter { $0.contains("account store failure") }
      #expect(failures.count == 2)
      #expect(failures.allSatisfy { $0.contains("the store is closed") && $0.contains(#""rpc.method":"#) })
    }
  }

  @Test("concurrent health events on one user lose nothing")
  func concurrentEvents() async throws {
    try await withAccountServer { harness in
      let client = harness.client
      for platform in Platform.allCases { _ = try await client.markConnected(Sample.connect(platform)) }
      let perPlatform = 12
      try await withThrowingTaskGroup(of: Void.self) { group in
        for platform in Platform.allCases {
          for index in 0..<perPlatform {
            group.addTask {
              _ = try await client.recordHealthEvent(
                .init(userId: Sample.userId, platform: platform, event: .error(message: "failure \(index)")))
            }
          }
        }
        try await group.waitForAll()
      }
      let account = try await client.getAccount(.init(userId: Sample.userId))
      for platform in Platform.allCases {
        #expect(account[platform].health?.consecutiveFailures == perPlatform, "\(platform)")
        #expect(account[platform].health?.status == .error)
        #expect(account[platform].connected)
      }
    }
  }

  @Test("documents survive closing and reopening the store")
  func persistence() async throws {
    try await withTemporaryDirectory { directory in
      let path = directory.appendingPathComponent("account-service.sqlite").path
      let clock = TestClock()
      let written = try await withAccountServer(databasePath: path, clock: clock) { harness in
        _ = try await harness.client.markConnected(Sample.connect(.mastodon))
        _ = try await harness.client.markConnected(Sample.connect(.tumblr))
        return try await harness.client.recordHealthEvent(.init(userId: Sample.userId, platform: .tumblr, event: .authExpired))
      }
      let (reread, listed) = try await withAccountServer(databasePath: path, clock: clock) { harness in
        let reread = try await harness.client.getAccount(.init(userId: Sample.userId))
        let listed = try await harness.client.listNeedingReconnection(.init(platform: .tumblr)).accounts
        return (reread, listed)
      }
      #expect(reread == written)
      #expect(listed == [written])
    }
  }

  @Test("no response and no log line carries anything token-like")
  func noTokens() async throws {
    try await withAccountServer { harness in
      let client = harness.client
      let codec = JSONMessageCodec()
      var responses: [[UInt8]] = []
      responses.append(try codec.encode(try await client.getAccount(.init(userId: Sample.userId))))
      for platform in Platform.allCases {
        responses.append(try codec.encode(try await client.markConnected(Sample.connect(platform))))
      }
      responses.append(try codec.encode(
        try await client.updateProfile(.init(userId: Sample.userId, platform: .bluesky, profile: Sample.profile("x")))))
      for event in [Accounts.HealthEvent.success, .error(message: "HTTP 503"), .authExpired, .authRevoked] {
        responses.append(try codec.encode(
          try await client.recordHealthEvent(.init(userId: Sample.userId, platform: .mastodon, event: event))))
      }
      responses.append(try codec.encode(try await client.listNeedingReconnection(.init(pageSize: 1))))
      responses.append(try codec.encode(try await client.markDisconnected(.init(userId: Sample.userId, platform: .tumblr))))

      // Paging is the only "token" the contract has; it is a cursor, not a credential.
      let allowedKeys: Set<String> = ["nextPageToken"]
      let forbidden = ["token", "password", "secret", "authorization", "jwt", "verifier", "credential"]
      for bytes in responses {
        let object = try JSONSerialization.jsonObject(with: Data(bytes))
        for key in Self.keys(of: object) where !allowedKeys.contains(key) {
          #expect(!forbidden.contains { key.lowercased().contains($0) }, "response field '\(key)'")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.contains(testToken))
        #expect(!text.contains("Bearer"))
        #expect(!text.contains("eyJ"), "looks like a JWT")
      }
      for line in harness.logs.collected {
        #expect(!line.contains(testToken))
        #expect(!line.lowercased().contains("bearer"))
      }
      #expect(!harness.logs.collected.isEmpty)
    }
  }

  static func keys(of object: Any) -> [String] {
    switch object {
    case let dictionary as [String: Any]: dictionary.keys + dictionary.values.flatMap(keys(of:))
    case let array as [Any]: array.flatMap(keys(of:))
    default: []
    }
  }
}
