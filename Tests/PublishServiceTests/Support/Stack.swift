import AccountService
import AuthService
import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonHTTP2
import HayonModel
import HayonPlatforms
import HayonPublish
import HayonRPC
import HayonRuntime
import HayonStore
import PlatformSandbox
import PublishService
import Synchronization
import Testing

/// The token every test server expects.
let testToken = "publish-test-token-\(UInt64.random(in: 1...UInt64.max))"
let appPassword = "abcd-efgh-ijkl-mnop"

/// Log lines a test can print when it fails.
final class LogCollector: Sendable {
  private let lines = Mutex<[String]>([])
  var sink: Logger.Sink { Logger.Sink { line in self.lines.withLock { $0.append(line) } } }
  var collected: [String] { lines.withLock { $0 } }
}

func makeRPCClient(_ address: SocketAddress) throws -> RPCClient {
  var configuration = RPCClient.Configuration(target: address, credential: BearerCredential(token: testToken))
  configuration.defaultTimeout = .seconds(20)
  configuration.maxAttempts = 1
  return try RPCClient(configuration: configuration)
}

func startServer(_ services: [any RPCService]) async throws -> (RPCServer, SocketAddress) {
  var configuration = RPCServer.Configuration(
    address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: testToken))
  configuration.shutdownGracePeriod = .seconds(2)
  let server = try RPCServer(configuration: configuration, services: services)
  return (server, try await server.start())
}

/// The platforms (sandbox, its clock at the real time), account-service and auth-service, all
/// in this process on loopback port 0: what publish-service talks to.
final class Backends: Sendable {
  let sandbox: PlatformSandbox
  let sandboxHost: String
  let accountServer: RPCServer
  let accountAddress: SocketAddress
  let accountStore: SQLiteStore
  let authServer: RPCServer
  let authAddress: SocketAddress
  let authStore: SQLiteStore
  let accountsRPC: RPCClient
  let authRPC: RPCClient
  let accountsForAuth: RPCClient
  let accounts: Accounts.Client
  let connections: Connections.Client
  let http = URLSessionHTTPClient()
  let logs = LogCollector()

  init() async throws {
    var sandboxConfiguration = PlatformSandbox.Configuration()
    sandboxConfiguration.clock = SandboxClock(start: Date())
    sandbox = try await PlatformSandbox.start(sandboxConfiguration)
    sandboxHost = String(sandbox.baseURL.dropFirst("http://".count))
    let logger = Logger(label: "publish-test", minimumLevel: .debug, sink: logs.sink)

    accountStore = try await SQLiteStore(.inMemory, schema: AccountStore.schema)
    let accountService = SocialAccountService(accounts: AccountStore(store: accountStore), clock: SystemWallClock(), logger: logger)
    (accountServer, accountAddress) = try await startServer([accountService])
    accountsRPC = try makeRPCClient(accountAddress)
    accounts = Accounts.Client(accountsRPC)

    authStore = try await SQLiteStore(.inMemory, schema: AuthStore.schema)
    accountsForAuth = try makeRPCClient(accountAddress)
    // Connect the client before a handler first uses it.
    _ = try await Accounts.Client(accountsForAuth).getAccount(.init(userId: "warm-up"))
    let sandboxURL = URL(string: sandbox.baseURL)!
    let connectionsService = ConnectionsService(
      store: authStore, sealer: try Sealer(keys: ["k1": SecureRandom.bytes(32)], current: "k1"),
      accounts: Accounts.Client(accountsForAuth), http: http,
      configuration: ConnectionsConfiguration(
        blueskyServiceURL: sandboxURL, mastodonDefaultInstance: sandboxURL,
        hostPolicy: HostPolicy(allowList: [sandboxHost])),
      logger: logger.with(["service": "auth"]))
    (authServer, authAddress) = try await startServer([connectionsService])
    authRPC = try makeRPCClient(authAddress)
    connections = Connections.Client(authRPC)
  }

  func shutdown() async {
    await authRPC.close()
    await accountsRPC.close()
    await authServer.shutdown()
    await accountsForAuth.close()
    await accountServer.shutdown()
    await authStore.close()
    await accountStore.close()
    await sandbox.shutdown()
  }

  /// A Bluesky account on the sandbox, connected for `userId` with an app password; its DID.
  @discardableResult
  func connectBluesky(userId: String, handle: String) async throws -> String {
    let did = sandbox.bluesky.addAccount(handle: handle, password: appPassword)
    _ = try await connections.connectBluesky(.init(userId: userId, identifier: handle, appPassword: appPassword))
    return did
  }

  /// A Mastodon account on the sandbox, connected for `userId` through the OAuth dance; its id.
  @discardableResult
  func connectMastodon(userId: String, username: String) async throws -> String {
    let id = sandbox.mastodon.addAccount(username: username)
    try await linkMastodon(userId: userId, accountId: id)
    return id
  }

  /// begin → GET the authorize URL without following the redirect → complete with its code and state.
  func linkMastodon(userId: String, accountId: String) async throws {
    sandbox.mastodon.setSignedInAccount(accountId)
    let begin = try await connections.beginConnect(.init(userId: userId, platform: .mastodon))
    let response = try await http.send(PlatformHTTPRequest(method: "GET", url: try #require(URL(string: begin.authorizeUrl))))
    let location = try #require(response.header("location"), "authorize answered \(response.status)")
    let items = URLComponents(string: location)?.queryItems ?? []
    let code = items.first { $0.name == "code" }?.value
    let state = items.first { $0.name == "state" }?.value
    _ = try await connections.completeConnect(.init(platform: .mastodon, state: state, code: code))
  }

  /// publish-service settings for tests: fast ticks and retries, the sandbox allow-listed.
  func publishConfiguration() -> PublishConfiguration {
    PublishConfiguration(
      tickInterval: .milliseconds(50), leaseDuration: 30, minimumLeaseLeft: 10,
      retry: RetryPolicy(maximumAttempts: 4, baseDelay: 0.2, maximumDelay: 2), maximumInFlightPerPlatform: 8,
      maximumInFlightPerAccount: 2, heldPollInterval: 0.2, hostPolicy: HostPolicy(allowList: [sandboxHost]))
  }
}

/// publish-service in this process over `backends`: its store (in memory unless a path is
/// given), the Posts RPC server on port 0, and the scheduler ticking in a task.
final class PublishStack: Sendable {
  let backends: Backends
  let store: SQLiteStore
  let server: RPCServer
  let address: SocketAddress
  let rpc: RPCClient
  let posts: Posts.Client
  let scheduler: Scheduler
  let loop: Task<Void, Never>
  private let accountsRPC: RPCClient
  private let authRPC: RPCClient

  init(backends: Backends, configuration: PublishConfiguration) async throws {
    self.backends = backends
    store = try await SQLiteStore(.inMemory, schema: PublishStore.schema)
    accountsRPC = try makeRPCClient(backends.accountAddress)
    authRPC = try makeRPCClient(backends.authAddress)
    // Connect the clients before handlers and the scheduler first use them.
    _ = try await Accounts.Client(accountsRPC).getAccount(.init(userId: "warm-up"))
    _ = try? await Connections.Client(authRPC).leaseCredential(.init(userId: "warm-up", platform: .bluesky))
    let logger = Logger(label: "publish-service", minimumLevel: .debug, sink: backends.logs.sink)
    let publishStore = PublishStore(store: store)
    let service = PostsService(
      store: publishStore, accounts: Accounts.Client(accountsRPC), http: backends.http, configuration: configuration, logger: logger)
    scheduler = Scheduler(
      store: publishStore, accounts: Accounts.Client(accountsRPC), connections: Connections.Client(authRPC), http: backends.http,
      configuration: configuration, logger: logger)
    (server, address) = try await startServer([service])
    rpc = try makeRPCClient(address)
    posts = Posts.Client(rpc)
    let scheduler = scheduler
    loop = Task { await scheduler.run() }
  }

  func shutdown() async {
    loop.cancel()
    await loop.value
    await rpc.close()
    await server.shutdown()
    await accountsRPC.close()
    await authRPC.close()
    await store.close()
  }

  /// Polls the post until `condition` holds (or fails after `timeout`).
  @discardableResult
  func waitFor(
    _ postId: String, userId: String, timeout: Duration = .seconds(20), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: (Posts.Post) -> Bool
  ) async throws -> Posts.Post {
    let deadline = ContinuousClock.now + timeout
    while true {
      let post = try await posts.getPost(.init(userId: userId, postId: postId))
      if condition(post) { return post }
      if ContinuousClock.now >= deadline {
        Issue.record("condition not reached within \(timeout); post: \(post)", sourceLocation: sourceLocation)
        return post
      }
      try await Task.sleep(for: .milliseconds(20))
    }
  }

  /// Waits until the scheduler has run `count` more ticks: a bound for "nothing happens".
  func waitTicks(_ count: Int) async throws {
    let target = scheduler.ticks + count
    while scheduler.ticks < target { try await Task.sleep(for: .milliseconds(10)) }
  }
}

/// Backends and an in-process publish-service for `body`; everything is stopped afterwards.
func withPublishStack<T>(
  configure: (inout PublishConfiguration) -> Void = { _ in }, _ body: (PublishStack) async throws -> T
) async throws -> T {
  let backends = try await Backends()
  var configuration = backends.publishConfiguration()
  configure(&configuration)
  let stack: PublishStack
  do {
    stack = try await PublishStack(backends: backends, configuration: configuration)
  } catch {
    await backends.shutdown()
    throw error
  }
  do {
    let result = try await body(stack)
    await stack.shutdown()
    await backends.shutdown()
    return result
  } catch {
    print("---- test failed with \(error); last log lines:")
    for line in backends.logs.collected.suffix(40) { print(line) }
    print("---- sandbox requests:")
    for request in backends.sandbox.requests().suffix(20) { print(request.method, request.path, request.status) }
    await stack.shutdown()
    await backends.shutdown()
    throw error
  }
}

/// Expects `body` to fail with `code`, and the message to contain `fragment`.
func expectRPCError(
  _ code: RPCStatusCode, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () async throws -> Void
) async {
  do {
    try await body()
    Issue.record("expected \(code.name), but the call succeeded", sourceLocation: sourceLocation)
  } catch let error as RPCError {
    #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
    #expect(error.message.contains(fragment), "got '\(error.message)'", sourceLocation: sourceLocation)
  } catch {
    Issue.record("expected RPCError \(code.name), got \(error)", sourceLocation: sourceLocation)
  }
}

/// ISO 8601 with a +02:00 offset, `seconds` from now.
func isoIn(_ seconds: Double, offsetHours: Int = 2) -> String {
  let date = Date().addingTimeInterval(seconds)
  return PostInputForTests.local(date, offsetHours: offsetHours)
}

enum PostInputForTests {
  static func local(_ date: Date, offsetHours: Int) -> String {
    let zone = TimeZone(secondsFromGMT: offsetHours * 3600)!
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = zone
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: date)
  }
}
