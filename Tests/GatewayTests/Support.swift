import AccountService
import AuthService
import AuthUsers
import Foundation
import Gateway
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonHTTP1
import HayonHTTP2
import HayonModel
import HayonPlatforms
import HayonPublish
import HayonRPC
import HayonRuntime
import HayonStore
import HayonUsers
import PlatformSandbox
import PublishService
import Synchronization
import Testing

let rpcToken = "gateway-test-\(UInt64.random(in: 1...UInt64.max))"

/// A wall clock tests move by hand (auth-service's "now").
final class MovableClock: WallClock, Sendable {
  private let current = Mutex(Date())
  var now: Date { current.withLock { $0 } }
  func advance(seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// Calls each backend method receives, with the metadata it carried (to check request ids are
/// forwarded and that hostile requests forward nothing).
final class CallRecorder: Sendable {
  private let calls = Mutex<[(method: String, requestId: String?)]>([])
  func record(_ method: String, _ requestId: String?) { calls.withLock { $0.append((method, requestId)) } }
  var all: [(method: String, requestId: String?)] { calls.withLock { $0 } }
  var count: Int { calls.withLock { $0.count } }
  func reset() { calls.withLock { $0.removeAll() } }
}

/// Everything a gateway route test runs against: the real account-service and auth-service
/// (users + connections) in-process on RPC port 0, the platform sandbox, an in-memory posts
/// service implementing the publish contract, and the gateway on HTTP port 0.
struct Stack: Sendable {
  let baseURL: String
  let port: Int
  let sandbox: PlatformSandbox
  let clock: MovableClock
  let recorder: CallRecorder
  let posts: MemoryPosts
  let gateway: Gateway
  let server: GatewayServer
}

/// With `realPublish`, publish-service's own `PostsService` (no scheduler) answers the posts
/// routes instead of the in-memory stand-in.
func withStack<T>(
  realPublish: Bool = false, tls: TLSConfiguration? = nil,
  server configureServer: (inout GatewayServer.Configuration) -> Void = { _ in }, configure: (inout GatewayConfiguration) -> Void = { _ in }, _ body: (Stack) async throws -> T
) async throws -> T {
  let sandbox = try await PlatformSandbox.start()
  let clock = MovableClock()
  let recorder = CallRecorder()
  let credential = BearerCredential(token: rpcToken)

  // account-service
  let accountStore = try await SQLiteStore(.inMemory, schema: AccountStore.schema)
  let accounts = SocialAccountService(
    accounts: AccountStore(store: accountStore), clock: SystemWallClock(), logger: Logger(label: "account", minimumLevel: .error))
  var accountConfiguration = RPCServer.Configuration(address: SocketAddress(host: "127.0.0.1", port: 0), credential: credential)
  accountConfiguration.shutdownGracePeriod = .seconds(1)
  let accountServer = try RPCServer(
    configuration: accountConfiguration, services: [RecordingAccounts(inner: accounts, recorder: recorder)])
  let accountAddress = try await accountServer.start()

  // auth-service: users + connections on one server, as the executable runs them.
  let authStore = try await SQLiteStore(.inMemory, schema: StoreSchema(collections: AuthStore.collections + UsersStore.collections))
  let users = try UsersService(
    store: authStore, signingKeys: try KeyRing(keys: ["k1": SymmetricKey.random()], current: "k1", allowedKeyLengths: 32...64),
    configuration: .defaults {
      $0.passwordHashing = PasswordHasher.Configuration.defaults {
        $0.parameters = ScryptParameters(cost: 16, blockSize: 1, parallelism: 1)
      }
    }, clock: clock, logger: Logger(label: "users", minimumLevel: .error))
  let accountClientForAuth = try RPCClient(configuration: RPCClient.Configuration(target: accountAddress, credential: credential))
  // No client is connected up front: every first connection is made from inside a handler, the
  // path where main's RPC client fix (27f5b4a) cured an intermittent hang.
  let sandboxURL = URL(string: sandbox.baseURL)!
  let sandboxHost = "\(sandboxURL.host!):\(sandboxURL.port!)"
  let connections = ConnectionsService(
    store: authStore, sealer: try Sealer(keys: ["v1": SecureRandom.bytes(32)], current: "v1"),
    accounts: Accounts.Client(accountClientForAuth), http: URLSessionHTTPClient(),
    configuration: ConnectionsConfiguration(
      blueskyServiceURL: sandboxURL, mastodonDefaultInstance: sandboxURL,
      mastodonRedirectURI: "http://127.0.0.1:8080/api/platform/mastodon/callback",
      hostPolicy: HostPolicy(allowList: [sandboxHost])),
    logger: Logger(label: "connections", minimumLevel: .error))
  var authConfiguration = RPCServer.Configuration(address: SocketAddress(host: "127.0.0.1", port: 0), credential: credential)
  authConfiguration.shutdownGracePeriod = .seconds(1)
  let authServer = try RPCServer(
    configuration: authConfiguration,
    services: [RecordingUsers(inner: users, recorder: recorder), RecordingConnections(inner: connections, recorder: recorder)])
  let authAddress = try await authServer.start()

  // publish-service stand-in: the contract, in memory.
  let posts = MemoryPosts(recorder: recorder)
  var postsConfiguration = RPCServer.Configuration(address: SocketAddress(host: "127.0.0.1", port: 0), credential: credential)
  postsConfiguration.shutdownGracePeriod = .seconds(1)
  let publishStore = try await SQLiteStore(.inMemory, schema: PublishStore.schema)
  let publishAccounts = try RPCClient(configuration: RPCClient.Configuration(target: accountAddress, credential: credential))
  let realPosts = PostsService(
    store: PublishStore(store: publishStore), accounts: Accounts.Client(publishAccounts), http: URLSessionHTTPClient(),
    configuration: PublishConfiguration(hostPolicy: HostPolicy(allowList: [sandboxHost])),
    logger: Logger(label: "publish", minimumLevel: .error))
  let postsServer = try RPCServer(
    configuration: postsConfiguration, services: realPublish ? [RecordingPosts(inner: realPosts, recorder: recorder)] : [posts])
  let postsAddress = try await postsServer.start()

  func client(_ address: SocketAddress) throws -> RPCClient {
    var configuration = RPCClient.Configuration(target: address, credential: credential)
    configuration.contentType = "application/grpc+json"
    configuration.defaultTimeout = .seconds(20)
    configuration.maxAttempts = 1
    return try RPCClient(configuration: configuration)
  }
  let authClient = try client(authAddress)
  let accountClient = try client(accountAddress)
  let postsClient = try client(postsAddress)
  var gatewayConfiguration = GatewayConfiguration()
  gatewayConfiguration.verifiedTokenCacheTTL = .zero
  configure(&gatewayConfiguration)
  let gateway = Gateway(
    configuration: gatewayConfiguration,
    backends: GatewayBackends(
      users: Users.Client(authClient), connections: Connections.Client(authClient), accounts: Accounts.Client(accountClient),
      posts: Posts.Client(postsClient),
      healthTargets: [("auth-service", authClient), ("account-service", accountClient), ("publish-service", postsClient)]),
    logger: Logger(label: "gateway", minimumLevel: .error))
  var serverConfiguration = GatewayServer.Configuration(address: SocketAddress(host: "127.0.0.1", port: 0), tls: tls)
  serverConfiguration.shutdownGracePeriod = .seconds(1)
  serverConfiguration.http1.lingerTimeout = .milliseconds(200)
  configureServer(&serverConfiguration)
  let server = try GatewayServer(configuration: serverConfiguration, gateway: gateway)
  let bound = try await server.start()
  let stack = Stack(
    baseURL: "\(tls == nil ? "http" : "https")://127.0.0.1:\(bound.port)", port: bound.port, sandbox: sandbox, clock: clock, recorder: recorder,
    posts: posts, gateway: gateway, server: server)

  func stopAll() async {
    await server.shutdown()
    await authClient.close()
    await accountClient.close()
    await postsClient.close()
    await postsServer.shutdown()
    await publishAccounts.close()
    await publishStore.close()
    await authServer.shutdown()
    await accountClientForAuth.close()
    await accountServer.shutdown()
    await authStore.close()
    await accountStore.close()
    await sandbox.shutdown()
  }
  do {
    let result = try await body(stack)
    await stopAll()
    return result
  } catch {
    await stopAll()
    throw error
  }
}

// MARK: curl

/// One HTTP response as curl saw it.
struct CurlResponse: Sendable {
  var protocolLine: String
  var status: Int
  var headers: [(name: String, value: String)]
  var body: [UInt8]
  /// Status lines of every header block (a 101 before the HTTP/2 answer for h2c).
  var statusLines: [String]

  func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
  func headerValues(_ name: String) -> [String] { headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value) }
  var text: String { String(decoding: body, as: UTF8.self) }
  var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
  /// `error.code` of the one error shape.
  var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
  var errorMessage: String? { (json?["error"] as? [String: Any])?["message"] as? String }
}

enum WireProtocol: String, Sendable, CaseIterable, CustomStringConvertible {
  case http1 = "--http1.1"
  case h2PriorKnowledge = "--http2-prior-knowledge"
  /// Cleartext upgrade from HTTP/1.1 (`Upgrade: h2c`).
  case h2cUpgrade = "--http2"
  var description: String { rawValue }
}

struct CurlFailure: Error, CustomStringConvertible {
  var description: String
}

/// Runs curl without blocking a cooperative thread; output goes to a file.
func curl(
  _ method: String, _ url: String, protocol wire: WireProtocol = .http1, headers: [String: String] = [:],
  body: String? = nil, extra: [String] = []
) async throws -> CurlResponse {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-curl-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: directory) }
  let output = directory.appendingPathComponent("out")
  let errors = directory.appendingPathComponent("err")
  var arguments = [wire.rawValue, "-sS", "-i", "--max-time", "20", "-o", output.path, "-X", method, "-k"]
  for (name, value) in headers.sorted(by: { $0.key < $1.key }) { arguments += ["-H", "\(name): \(value)"] }
  if let body {
    let file = directory.appendingPathComponent("body")
    try Data(body.utf8).write(to: file)
    arguments += ["--data-binary", "@\(file.path)"]
  }
  arguments += extra
  arguments.append(url)
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
  process.arguments = arguments
  _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
  let errorHandle = try FileHandle(forWritingTo: errors)
  process.standardError = errorHandle
  process.standardOutput = FileHandle.nullDevice
  process.standardInput = FileHandle.nullDevice
  let status: Int32 = try await withCheckedThrowingContinuation { continuation in
    process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
    do { try process.run() } catch { continuation.resume(throwing: error) }
  }
  try errorHandle.close()
  guard status == 0 else {
    throw CurlFailure(description: "curl exited \(status): \((try? String(contentsOf: errors, encoding: .utf8)) ?? "")")
  }
  return try parseCurlOutput(Array(try Data(contentsOf: output)))
}

func parseCurlOutput(_ bytes: [UInt8]) throws -> CurlResponse {
  var rest = bytes[...]
  var statusLines: [String] = []
  while true {
    guard let end = rest.firstRange(of: Array("\r\n\r\n".utf8)) else {
      throw CurlFailure(description: "no header block in curl output")
    }
    let block = String(decoding: rest[rest.startIndex..<end.lowerBound], as: UTF8.self)
    rest = rest[end.upperBound...]
    let lines = block.components(separatedBy: "\r\n")
    let statusLine = lines[0]
    statusLines.append(statusLine)
    let parts = statusLine.split(separator: " ")
    guard parts.count >= 2, let status = Int(parts[1]) else { throw CurlFailure(description: "bad status line \(statusLine)") }
    if (100..<200).contains(status) { continue }
    let headers = lines.dropFirst().compactMap { line -> (String, String)? in
      guard let colon = line.firstIndex(of: ":") else { return nil }
      return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
    return CurlResponse(
      protocolLine: String(parts[0]), status: status, headers: headers.map { (name: $0.0, value: $0.1) }, body: Array(rest),
      statusLines: statusLines)
  }
}

// MARK: Helpers

extension Stack {
  func url(_ path: String) -> String { baseURL + path }

  /// Signs up a fresh user; returns the access and refresh tokens.
  func signUp(_ email: String = "user-\(UUID().uuidString.prefix(8).lowercased())@example.com") async throws -> (
    access: String, refresh: String, email: String
  ) {
    let response = try await curl(
      "POST", url("/api/auth/signup"), headers: ["Content-Type": "application/json"],
      body: #"{"email":"\#(email)","password":"correct horse battery"}"#)
    #expect(response.status == 201, "\(response.text)")
    let tokens = try #require(response.json?["tokens"] as? [String: Any])
    return (try #require(tokens["accessToken"] as? String), try #require(tokens["refreshToken"] as? String), email)
  }
}

func bearer(_ token: String) -> [String: String] { ["Authorization": "Bearer \(token)"] }

/// Runs a program to completion without blocking a cooperative thread.
func runProgram(_ path: String, _ arguments: [String]) async throws -> Int32 {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: path)
  process.arguments = arguments
  process.standardOutput = FileHandle.nullDevice
  process.standardError = FileHandle.nullDevice
  process.standardInput = FileHandle.nullDevice
  return try await withCheckedThrowingContinuation { continuation in
    process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
    do { try process.run() } catch { continuation.resume(throwing: error) }
  }
}

/// A self-signed certificate for 127.0.0.1 in a temporary directory, removed afterwards.
func withSelfSignedCertificate<T>(_ body: (TLSConfiguration) async throws -> T) async throws -> T {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-tls-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: directory) }
  let key = directory.appendingPathComponent("key.pem").path
  let certificate = directory.appendingPathComponent("cert.pem").path
  let status = try await runProgram(
    "/usr/bin/openssl",
    [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
      certificate, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    ])
  guard status == 0 else { throw CurlFailure(description: "openssl req failed: \(status)") }
  return try await body(TLSConfiguration(certificateChainPath: certificate, privateKeyPath: key))
}
