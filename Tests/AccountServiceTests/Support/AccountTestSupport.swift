import AccountService
import Foundation
import HayonAccount
import HayonCrypto
import HayonHTTP2
import HayonModel
import HayonRPC
import HayonRuntime
import HayonStore
import Synchronization
import Testing

/// The token every test server expects.
let testToken = "account-test-token-\(UInt64.random(in: 1...UInt64.max))"

/// A wall clock the test moves by hand.
final class TestClock: WallClock {
  private let current: Mutex<Date>

  init(_ start: Date = Date(timeIntervalSince1970: 1_796_000_000)) { current = Mutex(start) }

  var now: Date { current.withLock { $0 } }
  var timestamp: Timestamp { Timestamp(now) }

  func advance(seconds: Double) { current.withLock { $0 += seconds } }
}

/// Log lines a test can inspect.
final class LogCollector: Sendable {
  private let lines = Mutex<[String]>([])
  var sink: Logger.Sink { Logger.Sink { line in self.lines.withLock { $0.append(line) } } }
  var collected: [String] { lines.withLock { $0 } }
}

/// Runs `body` with a fresh temporary directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
  let directory = FileManager.default.temporaryDirectory
    .appendingPathComponent("hayon-account-test-\(UUID().uuidString)", isDirectory: true)
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: directory) }
  return try await body(directory)
}

/// What a test server exposes to its body.
struct AccountHarness {
  let client: Accounts.Client
  let clock: TestClock
  let logs: LogCollector
  let address: SocketAddress
  let store: SQLiteStore
}

/// account-service in-process: a SQLite store at `databasePath` (in memory when nil), the
/// service on an RPC server at 127.0.0.1 port 0, and a contract client. Everything is shut
/// down and closed afterwards, also when `body` throws.
func withAccountServer<T>(
  databasePath: String? = nil, clock: TestClock = TestClock(), _ body: (AccountHarness) async throws -> T
) async throws -> T {
  let store = try await SQLiteStore(
    databasePath.map { .file($0) } ?? .inMemory, schema: AccountStore.schema)
  let logs = LogCollector()
  let logger = Logger(label: "account-service-test", minimumLevel: .debug, sink: logs.sink)
  let service = SocialAccountService(accounts: AccountStore(store: store), clock: clock, logger: logger)
  var configuration = RPCServer.Configuration(
    address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: testToken))
  configuration.shutdownGracePeriod = .seconds(2)
  let server = try RPCServer(configuration: configuration, services: [service])
  let address = try await server.start()
  let rpc = try makeRPCClient(address)
  let harness = AccountHarness(client: Accounts.Client(rpc), clock: clock, logs: logs, address: address, store: store)
  do {
    let result = try await body(harness)
    await rpc.close()
    await server.shutdown()
    await store.close()
    return result
  } catch {
    await rpc.close()
    await server.shutdown()
    await store.close()
    throw error
  }
}

func makeRPCClient(_ address: SocketAddress, contentType: String = "application/grpc") throws -> RPCClient {
  var configuration = RPCClient.Configuration(target: address, credential: BearerCredential(token: testToken))
  configuration.defaultTimeout = .seconds(20)
  configuration.contentType = contentType
  // Retries would hide whether a call succeeded the first time.
  configuration.maxAttempts = 1
  return try RPCClient(configuration: configuration)
}

/// Expects `body` to fail with exactly `code` and `message`.
func expectRPCError(
  _ code: RPCStatusCode, _ message: String, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () async throws -> Void
) async {
  do {
    try await body()
    Issue.record("expected \(code.name) '\(message)', but the call succeeded", sourceLocation: sourceLocation)
  } catch let error as RPCError {
    #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
    #expect(error.message == message, sourceLocation: sourceLocation)
  } catch {
    Issue.record("expected RPCError \(code.name), got \(error)", sourceLocation: sourceLocation)
  }
}

// MARK: Sample requests

enum Sample {
  static let userId = "user_01"

  static func profile(_ handle: String = "alice.example") -> Accounts.Profile {
    Accounts.Profile(displayName: "Alice", handle: handle, avatarUrl: "https://cdn.example/alice.png")
  }

  static func fields(for platform: Platform) -> Accounts.PlatformFields {
    switch platform {
    case .bluesky: .bluesky(did: "did:plc:abc123", pdsUrl: "https://pds.example")
    case .mastodon: .mastodon(instanceUrl: "https://mastodon.example", accountId: "109876")
    case .tumblr: .tumblr(blog: "alice-blog")
    case .instagram: .instagram(facebookPageId: "102927594431953")
    case .facebook, .threads: .none
    }
  }

  static func connect(
    _ platform: Platform, userId: String = userId, platformId: String = "id-1"
  ) -> Accounts.MarkConnectedRequest {
    Accounts.MarkConnectedRequest(
      userId: userId, platform: platform, platformId: platformId, profile: profile(), platformFields: fields(for: platform))
  }
}
