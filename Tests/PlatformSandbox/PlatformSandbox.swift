import Foundation
import HayonHTTP1
import HayonHTTP2
import Synchronization

/// One recorded request as the sandbox received it, with the status it answered.
public struct SandboxRequest: Sendable {
  public var method: String
  /// The path, still percent-encoded.
  public var path: String
  /// The raw query string after `?`, or nil.
  public var query: String?
  public var headers: [(name: String, value: String)]
  public var body: [UInt8]
  /// The status the sandbox answered (or would have answered, when the response was dropped).
  public var status: Int
  /// True when the response was deliberately lost (`dropResponseNext`).
  public var responseDropped: Bool

  /// The first header named `name` (case-insensitive).
  public func header(_ name: String) -> String? {
    headers.first { $0.name.lowercased() == name.lowercased() }?.value
  }

  public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A platform emulator mounted on the sandbox under a path prefix.
protocol SandboxPlatform: Sendable {
  /// Answers one request addressed to this platform.
  func handle(_ request: HTTPRequest) -> HTTPResponse
  /// The platform's own error answer for an injected failure.
  func injectedFailure(status: Int, retryAfterSeconds: Int?) -> HTTPResponse
}

/// An offline emulator of the social platforms Hayon publishes to, on one HTTP/1.1 port.
///
/// Routing: `/xrpc/…` is Bluesky (PDS), `/_sandbox/…` the admin API, everything else the Mastodon
/// instance (one instance per sandbox; start two sandboxes for two instances). Every non-admin
/// request is recorded with the status it got. Time comes from `clock`.
public final class PlatformSandbox: Sendable {
  public struct Configuration: Sendable {
    public var address: SocketAddress = SocketAddress(host: "127.0.0.1", port: 0)
    public var clock: SandboxClock = SandboxClock()
    /// The event loops the HTTP/1.1 server runs on.
    public var group: EventLoopGroup = .shared
    /// Largest request body accepted (413 beyond).
    public var maxBodySize = 256 * 1024
    public init() {}

    public static var defaults: Configuration { Configuration() }

    public static func defaults(configure: (inout Configuration) -> Void) -> Configuration {
      var configuration = Configuration()
      configure(&configuration)
      return configuration
    }
  }

  public let baseURL: String
  public let clock: SandboxClock
  public let bluesky: BlueskyEmulator
  public let mastodon: MastodonEmulator
  private let server: HTTP1Server
  private let core: SandboxCore

  private init(baseURL: String, core: SandboxCore, server: HTTP1Server) {
    self.baseURL = baseURL
    self.core = core
    self.server = server
    clock = core.clock
    bluesky = core.bluesky
    mastodon = core.mastodon
  }

  public static func start(_ configuration: Configuration = Configuration()) async throws -> PlatformSandbox {
    let core = SandboxCore(clock: configuration.clock)
    var serverConfiguration = HTTP1Server.Configuration(address: configuration.address)
    serverConfiguration.parser.maxBodySize = configuration.maxBodySize
    serverConfiguration.lingerTimeout = .milliseconds(200)
    let server = HTTP1Server(configuration: serverConfiguration, group: configuration.group) { request in
      core.handle(request)
    }
    let bound = try await server.start()
    let host = bound.host.contains(":") ? "[\(bound.host)]" : bound.host
    let baseURL = "http://\(host):\(bound.port)"
    core.mastodon.setOrigin(baseURL: baseURL, domain: "\(host):\(bound.port)")
    core.bluesky.setServiceHost("\(host):\(bound.port)")
    return PlatformSandbox(baseURL: baseURL, core: core, server: server)
  }

  /// The next `count` requests whose path starts with `pathPrefix` get `status` with the
  /// platform's own error body (XRPC shape under `/xrpc`, Mastodon `{"error":…}` otherwise).
  /// A 429 also carries the platform's rate-limit headers, reset `retryAfterSeconds` (default 60)
  /// from now on the sandbox clock. The request is not processed.
  public func failNext(_ count: Int, pathPrefix: String, status: Int, retryAfterSeconds: Int? = nil) {
    core.addRule(.init(remaining: count, pathPrefix: pathPrefix, kind: .fail(status: status, retryAfter: retryAfterSeconds)))
  }

  /// The next `count` requests whose path starts with `pathPrefix` are processed normally, then
  /// the connection is closed without an answer.
  public func dropResponseNext(_ count: Int, pathPrefix: String) {
    core.addRule(.init(remaining: count, pathPrefix: pathPrefix, kind: .drop))
  }

  /// Every recorded request, in arrival order (admin routes are not recorded).
  public func requests() -> [SandboxRequest] { core.requests() }

  public func resetRequestLog() { core.resetRequestLog() }

  public func shutdown() async {
    await server.shutdown(gracePeriod: .milliseconds(200))
  }
}

/// Failure-injection rules, the request log and routing; shared by the server's handler.
final class SandboxCore: Sendable {
  struct Rule: Sendable {
    enum Kind: Sendable {
      case fail(status: Int, retryAfter: Int?)
      case drop
    }
    var remaining: Int
    var pathPrefix: String
    var kind: Kind
  }

  private struct State: Sendable {
    var rules: [Rule] = []
    var log: [SandboxRequest] = []
  }

  /// Recorded requests kept at most (oldest dropped first).
  static let maxLogEntries = 10_000

  let clock: SandboxClock
  let bluesky: BlueskyEmulator
  let mastodon: MastodonEmulator
  private let state = Mutex(State())

  init(clock: SandboxClock) {
    self.clock = clock
    bluesky = BlueskyEmulator(clock: clock)
    mastodon = MastodonEmulator(clock: clock)
  }

  func addRule(_ rule: Rule) {
    guard rule.remaining > 0 else { return }
    state.withLock { $0.rules.append(rule) }
  }

  func requests() -> [SandboxRequest] { state.withLock { $0.log } }

  func resetRequestLog() { state.withLock { $0.log.removeAll() } }

  func handle(_ request: HTTPRequest) -> HTTPResponse {
    let path = String(request.path)
    if path == "/_sandbox" || path.hasPrefix("/_sandbox/") {
      return SandboxAdmin(core: self).handle(request, path: path)
    }
    let platform: any SandboxPlatform = path.hasPrefix("/xrpc/") || path == "/xrpc" ? bluesky : mastodon
    let rule = state.withLock { state -> Rule.Kind? in
      guard let index = state.rules.firstIndex(where: { path.hasPrefix($0.pathPrefix) }) else { return nil }
      state.rules[index].remaining -= 1
      let kind = state.rules[index].kind
      if state.rules[index].remaining <= 0 { state.rules.remove(at: index) }
      return kind
    }
    var response: HTTPResponse
    switch rule {
    case .fail(let status, let retryAfter):
      response = platform.injectedFailure(status: status, retryAfterSeconds: retryAfter)
    case .drop:
      response = platform.handle(request)
      response.dropsConnection = true
    case nil:
      response = platform.handle(request)
    }
    record(request, response)
    return response
  }

  private func record(_ request: HTTPRequest, _ response: HTTPResponse) {
    let entry = SandboxRequest(
      method: request.method, path: String(request.path), query: request.query.map(String.init),
      headers: request.headers.map { (name: $0.name, value: $0.value) }, body: request.body,
      status: response.status, responseDropped: response.dropsConnection)
    state.withLock { state in
      if state.log.count >= Self.maxLogEntries { state.log.removeFirst(state.log.count - Self.maxLogEntries + 1) }
      state.log.append(entry)
    }
  }
}

/// `/_sandbox/…`: JSON admin hooks for the executable (tests in-process call the Swift API).
struct SandboxAdmin {
  let core: SandboxCore

  func handle(_ request: HTTPRequest, path: String) -> HTTPResponse {
    let route = String(path.dropFirst("/_sandbox/".count))
    if request.method == "GET" {
      return read(route, query: (try? FormParameters(parsing: request.query ?? "")) ?? FormParameters())
    }
    guard request.method == "POST" else { return notFound() }
    let body = SandboxHTTP.jsonObject(request.body) ?? [:]
    switch route {
    case "accounts/bluesky":
      guard let handle = SandboxHTTP.string(body, "handle", maxLength: 253), !handle.isEmpty,
        let password = SandboxHTTP.string(body, "password", maxLength: 256)
      else { return bad("handle and password are required") }
      let did = core.bluesky.addAccount(
        handle: handle, password: password, displayName: SandboxHTTP.string(body, "displayName", maxLength: 640),
        avatarUrl: SandboxHTTP.string(body, "avatarUrl", maxLength: 2048),
        requiresAuthFactor: body["requiresAuthFactor"] as? Bool ?? false)
      return SandboxHTTP.json(200, ["did": did])
    case "accounts/mastodon":
      guard let username = SandboxHTTP.string(body, "username", maxLength: 30), !username.isEmpty else {
        return bad("username is required")
      }
      let id = core.mastodon.addAccount(
        username: username, displayName: SandboxHTTP.string(body, "displayName", maxLength: 256),
        avatarUrl: SandboxHTTP.string(body, "avatarUrl", maxLength: 2048))
      return SandboxHTTP.json(200, ["id": id])
    case "clock/advance":
      guard let seconds = body["seconds"] as? Double, seconds.isFinite, abs(seconds) < 1e10 else {
        return bad("seconds is required")
      }
      core.clock.advance(by: seconds)
      return SandboxHTTP.json(200, ["now": SandboxHTTP.isoMilliseconds(core.clock.now)])
    case "bluesky/expire":
      guard let did = SandboxHTTP.string(body, "did", maxLength: 256) else { return bad("did is required") }
      core.bluesky.expireAccessTokens(did: did)
      return SandboxHTTP.json(200, [String: Any]())
    case "bluesky/revoke":
      guard let did = SandboxHTTP.string(body, "did", maxLength: 256) else { return bad("did is required") }
      core.bluesky.revokeSessions(did: did)
      return SandboxHTTP.json(200, [String: Any]())
    case "mastodon/revoke":
      guard let accountId = SandboxHTTP.string(body, "accountId", maxLength: 64) else {
        return bad("accountId is required")
      }
      core.mastodon.revokeTokens(accountId: accountId)
      return SandboxHTTP.json(200, [String: Any]())
    case "fail":
      guard let count = body["count"] as? Int, (1...10_000).contains(count),
        let prefix = SandboxHTTP.string(body, "pathPrefix", maxLength: 1024),
        let status = body["status"] as? Int, (400...599).contains(status)
      else { return bad("count (1...10000), pathPrefix and status (400...599) are required") }
      let retryAfter = (body["retryAfterSeconds"] as? Int).map { min(max($0, 0), 86_400 * 365) }
      core.addRule(.init(remaining: count, pathPrefix: prefix, kind: .fail(status: status, retryAfter: retryAfter)))
      return SandboxHTTP.json(200, [String: Any]())
    case "drop":
      guard let count = body["count"] as? Int, (1...10_000).contains(count),
        let prefix = SandboxHTTP.string(body, "pathPrefix", maxLength: 1024)
      else { return bad("count (1...10000) and pathPrefix are required") }
      core.addRule(.init(remaining: count, pathPrefix: prefix, kind: .drop))
      return SandboxHTTP.json(200, [String: Any]())
    case "requests/reset":
      core.resetRequestLog()
      return SandboxHTTP.json(200, [String: Any]())
    default:
      return notFound()
    }
  }

  /// What an end-to-end test looks at over HTTP: the log, and per account its posts and how
  /// many sessions or tokens are still live.
  private func read(_ route: String, query: FormParameters) -> HTTPResponse {
    switch route {
    case "requests":
      return SandboxHTTP.json(200, ["requests": core.requests().map(Self.describe)])
    case "bluesky/account":
      guard let did = query["did"], did.utf8.count <= 256 else { return bad("did is required") }
      let posts = core.bluesky.posts(did: did).map { ["uri": $0.uri, "cid": $0.cid, "text": $0.text] }
      return SandboxHTTP.json(200, ["posts": posts, "liveSessions": core.bluesky.liveSessionCount(did: did)])
    case "mastodon/account":
      guard let accountId = query["accountId"], accountId.utf8.count <= 64 else { return bad("accountId is required") }
      let statuses = core.mastodon.statuses(accountId: accountId).map { ["id": $0.id, "text": $0.text] }
      return SandboxHTTP.json(200, ["statuses": statuses, "liveTokens": core.mastodon.liveTokenCount(accountId: accountId)])
    default:
      return notFound()
    }
  }

  static func describe(_ entry: SandboxRequest) -> [String: Any] {
    var object: [String: Any] = [
      "method": entry.method, "path": entry.path, "status": entry.status,
      "headers": entry.headers.map { header -> [String] in
        [header.name, header.name.lowercased() == "authorization" ? "[redacted]" : header.value]
      },
      "body": entry.bodyText, "responseDropped": entry.responseDropped,
    ]
    if let query = entry.query { object["query"] = query }
    return object
  }

  private func bad(_ message: String) -> HTTPResponse {
    SandboxHTTP.json(400, ["error": "InvalidRequest", "message": message])
  }

  private func notFound() -> HTTPResponse {
    SandboxHTTP.json(404, ["error": "NotFound", "message": "Unknown sandbox admin route"])
  }
}
