import AccountService
import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonHTTP2
import HayonModel
import HayonPlatforms
import HayonRPC
import HayonRuntime
import HayonStore
import PlatformSandbox
import Synchronization
import Testing

@testable import AuthService

let connectionsTestToken = "connections-test-\(UInt64.random(in: 1...UInt64.max))"
let samplePassword = "abcd-efgh-ijkl-mnop"
let sampleRedirect = "http://127.0.0.1:8080/api/platform/mastodon/callback"

/// Log lines from every service in a harness.
final class LogCollector: Sendable {
  private let lines = Mutex<[String]>([])
  var sink: Logger.Sink { Logger.Sink { line in self.lines.withLock { $0.append(line) } } }
  var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

/// account-service and auth-service (connections) in-process on port 0, talking real RPC, with
/// one platform sandbox (or two, for two Mastodon instances) standing in for the platforms.
struct ConnectionsHarness {
  let sandbox: PlatformSandbox
  let secondSandbox: PlatformSandbox?
  let connections: Connections.Client
  let accounts: Accounts.Client
  /// auth-service's clock; starts where the sandbox's does.
  let clock: AdjustableClock
  let logs: LogCollector
  let store: SQLiteStore

  var sandboxURL: String { sandbox.baseURL }

  func account(_ userId: String, _ platform: Platform) async throws -> Accounts.PlatformAccount {
    try await accounts.getAccount(Accounts.GetAccountRequest(userId: userId))[platform]
  }

  /// Advances both clocks: the sandbox's (token lifetimes) and auth-service's (refresh margin).
  func advance(seconds: TimeInterval) {
    sandbox.clock.advance(by: seconds)
    secondSandbox?.clock.advance(by: seconds)
    clock.advance(by: seconds)
  }

  @discardableResult
  func connectBluesky(_ userId: String, handle: String = "alice.bsky.social") async throws -> Connections.ConnectedAccount {
    try await connections.connectBluesky(
      Connections.ConnectBlueskyRequest(userId: userId, identifier: handle, appPassword: samplePassword))
  }

  /// The browser's part of the OAuth dance: follow the authorize URL once, read the redirect.
  func authorize(_ authorizeUrl: String) async throws -> (code: String?, state: String?, error: String?) {
    let response = try await URLSessionHTTPClient().send(PlatformHTTPRequest(method: "GET", url: try #require(URL(string: authorizeUrl))))
    #expect(response.status == 302)
    let location = try #require(response.header("location"))
    #expect(location.hasPrefix(sampleRedirect + "?"))
    let items = URLComponents(string: location)?.queryItems ?? []
    return (items.first { $0.name == "code" }?.value, items.first { $0.name == "state" }?.value,
      items.first { $0.name == "error" }?.value)
  }

  /// Begin → authorize → complete, on `instance` (nil: the default).
  @discardableResult
  func connectMastodon(_ userId: String, instance: String? = nil) async throws -> Connections.ConnectedAccount {
    let begun = try await connections.beginConnect(
      Connections.BeginConnectRequest(userId: userId, platform: .mastodon, instanceUrl: instance))
    let redirect = try await authorize(begun.authorizeUrl)
    return try await connections.completeConnect(
      Connections.CompleteConnectRequest(platform: .mastodon, state: redirect.state, code: redirect.code))
  }
}

func withConnections<T>(
  twoInstances: Bool = false, _ body: (ConnectionsHarness) async throws -> T
) async throws -> T {
  let sandbox = try await PlatformSandbox.start()
  let second = twoInstances ? try await PlatformSandbox.start() : nil
  let logs = LogCollector()
  let clock = AdjustableClock(sandbox.clock.now)
  let credential = try #require(BearerCredential(token: connectionsTestToken))

  let accountStore = try await SQLiteStore(.inMemory, schema: AccountStore.schema)
  let accountService = SocialAccountService(
    accounts: AccountStore(store: accountStore), clock: clock, logger: Logger(label: "account-service", minimumLevel: .debug, sink: logs.sink))
  var accountConfiguration = RPCServer.Configuration(address: SocketAddress(host: "127.0.0.1", port: 0), credential: credential)
  accountConfiguration.shutdownGracePeriod = .seconds(2)
  let accountServer = try RPCServer(configuration: accountConfiguration, services: [accountService])
  let accountAddress = try await accountServer.start()
  let accountRPC = try makeClient(accountAddress, credential)

  let authStore = try await SQLiteStore(.inMemory, schema: AuthStore.schema)
  var allow = [hostAndPort(sandbox.baseURL)]
  if let second { allow.append(hostAndPort(second.baseURL)) }
  let configuration = ConnectionsConfiguration(
    blueskyServiceURL: try #require(URL(string: sandbox.baseURL)),
    mastodonDefaultInstance: try #require(URL(string: sandbox.baseURL)), mastodonRedirectURI: sampleRedirect,
    hostPolicy: HostPolicy(allowList: allow))
  let service = ConnectionsService(
    store: authStore, sealer: try makeSealer(), accounts: Accounts.Client(accountRPC), http: URLSessionHTTPClient(),
    configuration: configuration, clock: clock, logger: Logger(label: "auth-service", minimumLevel: .debug, sink: logs.sink))
  var authConfiguration = RPCServer.Configuration(address: SocketAddress(host: "127.0.0.1", port: 0), credential: credential)
  authConfiguration.shutdownGracePeriod = .seconds(2)
  let authServer = try RPCServer(configuration: authConfiguration, services: [service])
  let authAddress = try await authServer.start()
  let authRPC = try makeClient(authAddress, credential)

  let harness = ConnectionsHarness(
    sandbox: sandbox, secondSandbox: second, connections: Connections.Client(authRPC), accounts: Accounts.Client(accountRPC),
    clock: clock, logs: logs, store: authStore)
  func stop() async {
    await authRPC.close()
    await authServer.shutdown()
    await accountRPC.close()
    await accountServer.shutdown()
    await authStore.close()
    await accountStore.close()
    await sandbox.shutdown()
    await second?.shutdown()
  }
  do {
    let result = try await body(harness)
    await stop()
    return result
  } catch {
    await stop()
    throw error
  }
}

private func makeClient(_ address: SocketAddress, _ credential: BearerCredential) throws -> RPCClient {
  var configuration = RPCClient.Configuration(target: address, credential: credential)
  configuration.defaultTimeout = .seconds(20)
  configuration.maxAttempts = 1
  return try RPCClient(configuration: configuration)
}

func hostAndPort(_ baseURL: String) -> String {
  let url = URL(string: baseURL)!
  return "\(url.host!):\(url.port!)"
}

/// Expects `body` to fail with `code` and, when given, exactly `message`.
@discardableResult
func expectRPCError(
  _ code: RPCStatusCode, _ message: String? = nil, reason: Connections.ErrorReason? = nil,
  sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async -> RPCError? {
  do {
    try await body()
    Issue.record("expected \(code.name), but the call succeeded", sourceLocation: sourceLocation)
    return nil
  } catch let error as RPCError {
    #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
    if let message { #expect(error.message == message, sourceLocation: sourceLocation) }
    if let reason { #expect(Connections.ErrorReason(of: error) == reason, sourceLocation: sourceLocation) }
    return error
  } catch {
    Issue.record("expected RPCError \(code.name), got \(error)", sourceLocation: sourceLocation)
    return nil
  }
}
