import HayonModel
import Foundation
import HayonCrypto
import HayonHTTP2
import HayonRPC
import HayonRuntime
import HayonStore
import HayonUsers
import Synchronization
import Testing

@testable import AuthUsers

/// A clock tests move by hand.
final class AdjustableClock: WallClock, Sendable {
  private let current: Mutex<Date>
  init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }
  var now: Date { current.withLock { $0 } }
  func advance(by duration: Duration) { current.withLock { $0 = $0.addingTimeInterval(duration.timeInterval) } }
}

/// Every log line the service writes, for checking that none holds a secret.
final class LogCapture: Sendable {
  private let lines = Mutex<[String]>([])
  var sink: Logger.Sink { Logger.Sink { [weak self] line in self?.lines.withLock { $0.append(line) } } }
  var all: [String] { lines.withLock { $0 } }
}

enum Fixture {
  /// scrypt at N = 16, r = 1: microseconds per hash, so the suite is fast. Only the test of the
  /// default cost uses the real one.
  static let cheapHashing = PasswordHasher.Configuration.defaults {
    $0.parameters = ScryptParameters(cost: 16, blockSize: 1, parallelism: 1)
  }

  static func configuration(_ configure: (inout UsersConfiguration) -> Void = { _ in }) -> UsersConfiguration {
    UsersConfiguration.defaults {
      $0.passwordHashing = cheapHashing
      configure(&$0)
    }
  }

  static func signingKeys() throws -> KeyRing {
    try KeyRing(keys: ["k1": SymmetricKey.random()], current: "k1", allowedKeyLengths: 32...64)
  }

  static let rpcToken = "users-test-\(UInt64.random(in: 1...UInt64.max))"
  static let password = "correct horse battery"
}

/// A running users service over real RPC, and what tests inspect beside it.
struct Harness: Sendable {
  let client: Users.Client
  let store: any DocumentStore
  let clock: AdjustableClock
  let logs: LogCapture
  let service: UsersService
  let signingKeys: KeyRing

  /// How many documents each collection holds.
  func documentCounts() async throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for collection in UsersStore.collections.map(\.name) {
      counts[collection] = try await store.query(collection, limit: Query.maximumLimit).items.count
    }
    return counts
  }

  func totalDocuments() async throws -> Int { try await documentCounts().values.reduce(0, +) }

  /// Every stored document's JSON and id, for checking that no secret is stored in the clear.
  func allStoredText() async throws -> String {
    var text = ""
    for collection in UsersStore.collections.map(\.name) {
      for document in try await store.query(collection, limit: Query.maximumLimit).items {
        text += document.id + " " + document.json + "\n"
      }
    }
    return text
  }
}

/// Runs `body` against a users service on 127.0.0.1 port 0 with a fresh in-memory store (or
/// the given one), shutting the server down afterwards whatever happens.
@discardableResult
func withUsersService<T>(
  store givenStore: (any DocumentStore)? = nil,
  clock: AdjustableClock = AdjustableClock(),
  signingKeys givenKeys: KeyRing? = nil,
  configuration: UsersConfiguration = Fixture.configuration(),
  _ body: (Harness) async throws -> T
) async throws -> T {
  let ownsStore = givenStore == nil
  let store: any DocumentStore
  if let givenStore { store = givenStore } else { store = try await SQLiteStore(.inMemory, schema: UsersStore.schema) }
  let logs = LogCapture()
  let keys = try givenKeys ?? Fixture.signingKeys()
  let service = try UsersService(
    store: store, signingKeys: keys, configuration: configuration, clock: clock,
    logger: Logger(label: "users-test", minimumLevel: .debug, sink: logs.sink))
  var serverConfiguration = RPCServer.Configuration(
    address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: Fixture.rpcToken))
  serverConfiguration.shutdownGracePeriod = .seconds(2)
  let server = try RPCServer(configuration: serverConfiguration, services: [service])
  let address = try await server.start()
  var clientConfiguration = RPCClient.Configuration(target: address, credential: BearerCredential(token: Fixture.rpcToken))
  clientConfiguration.defaultTimeout = .seconds(20)
  let rpc = try RPCClient(configuration: clientConfiguration)
  let harness = Harness(
    client: Users.Client(rpc), store: store, clock: clock, logs: logs, service: service, signingKeys: keys)
  do {
    let result = try await body(harness)
    await rpc.close()
    await server.shutdown()
    if ownsStore { await store.close() }
    return result
  } catch {
    await rpc.close()
    await server.shutdown()
    if ownsStore { await store.close() }
    throw error
  }
}

/// A fresh directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
  let directory = FileManager.default.temporaryDirectory
    .appendingPathComponent("hayon-users-tests-\(UUID().uuidString)", isDirectory: true)
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: directory) }
  return try await body(directory)
}

/// Expects `body` to fail with exactly `code` and `message`; returns the error.
@discardableResult
func expectRPCError(
  _ code: RPCStatusCode, _ message: String, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () async throws -> Void
) async -> RPCError? {
  do {
    try await body()
    Issue.record("expected \(code.name) '\(message)', but the call succeeded", sourceLocation: sourceLocation)
    return nil
  } catch let error as RPCError {
    #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
    #expect(error.message == message, sourceLocation: sourceLocation)
    return error
  } catch {
    Issue.record("expected RPCError \(code.name), got \(error)", sourceLocation: sourceLocation)
    return nil
  }
}

extension Duration {
  static func minutes(_ minutes: Int64) -> Duration { .seconds(minutes * 60) }
  static func days(_ days: Int64) -> Duration { .seconds(days * 86_400) }
}
