import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonHTTP1
import HayonModel
import HayonPublish
import HayonRPC
import HayonRuntime
import HayonUsers
import Synchronization

/// The backends the gateway calls. It holds no data of its own.
public struct GatewayBackends: Sendable {
  public var users: Users.Client
  public var connections: Connections.Client
  /// account-service, over one or more connections (`accountsPool`), taken in turn: each RPC
  /// client keeps one HTTP/2 connection, which account-service serves on one event loop.
  public var accounts: Accounts.Client { accountsPool[turn.next(accountsPool.count)] }
  public let accountsPool: [Accounts.Client]
  private let turn = Turn()
  /// publish-service (posts); nil answers the posts routes with 503.
  public var posts: Posts.Client?
  /// For `/readyz`: each service's RPC client, by name.
  public var healthTargets: [(name: String, client: RPCClient)]

  public init(
    users: Users.Client, connections: Connections.Client, accounts: Accounts.Client, posts: Posts.Client?,
    healthTargets: [(name: String, client: RPCClient)], additionalAccounts: [Accounts.Client] = []
  ) {
    self.users = users
    self.connections = connections
    self.accountsPool = [accounts] + additionalAccounts
    self.posts = posts
    self.healthTargets = healthTargets
  }
}

/// A shared counter for taking clients in turn.
final class Turn: Sendable {
  private let counter = Atomic<Int>(0)
  func next(_ count: Int) -> Int {
    count == 1 ? 0 : counter.wrappingAdd(1, ordering: .relaxed).oldValue % count
  }
}

public struct GatewayConfiguration: Sendable {
  /// The gateway's public origin (`https://hayon.example`), for absolute links; nil means
  /// relative links only.
  public var publicURL: String?
  /// Timeout for each backend call.
  public var callTimeout: Duration = .seconds(10)
  /// Timeout for each health check behind `/readyz`.
  public var readinessTimeout: Duration = .seconds(2)
  /// Mark cookies `Secure` (set when the public URL is https or TLS is served).
  public var secureCookies = false
  /// Verified access tokens are remembered (until they expire, at most this long), so a busy
  /// client costs one verification per window instead of one per request. Access tokens stay
  /// valid until they expire even after logout, so this changes no answer.
  public var verifiedTokenCacheTTL: Duration = .seconds(30)
  public var verifiedTokenCacheSize = 10_000

  public init(publicURL: String? = nil) {
    self.publicURL = publicURL
    self.secureCookies = publicURL?.hasPrefix("https://") == true
  }
}

/// The REST gateway: one router over the three services, independent of the wire protocol.
/// `handle` turns any request into a response and never throws.
public final class Gateway: Sendable {
  public let configuration: GatewayConfiguration
  let backends: GatewayBackends
  let logger: Logger
  public let router: Router
  let tokenCache: VerifiedTokenCache
  /// The OpenAPI document for the routes registered, and its serialised bytes: both depend only
  /// on the route table, which is fixed at `init`, so they are built once rather than per request.
  public let openAPIDocument: JSONValue
  let openAPIBytes: [UInt8]

  public init(configuration: GatewayConfiguration, backends: GatewayBackends, logger: Logger) {
    self.configuration = configuration
    self.backends = backends
    self.logger = logger
    self.tokenCache = VerifiedTokenCache(
      capacity: configuration.verifiedTokenCacheSize, ttl: configuration.verifiedTokenCacheTTL)
    var router = Router()
    Self.registerRoutes(&router)
    self.router = router
    let document = OpenAPIDocument.build(routes: router.routes)
    self.openAPIDocument = document
    self.openAPIBytes = Array(document.serialized.utf8)
  }

  static func registerRoutes(_ router: inout Router) {
    registerHealthRoutes(&router)
    registerAuthRoutes(&router)
    registerAccountRoutes(&router)
    registerPlatformRoutes(&router)
    registerPostRoutes(&router)
    registerSettingsRoutes(&router)
    registerOpenAPIRoute(&router)
  }

  // MARK: Handling

  /// Answers one request: routing, request id, errors in the one shape.
  public func handle(_ request: GatewayRequest) async -> GatewayResponse {
    let started = ContinuousClock.now
    let requestId = Self.requestId(from: request.headers["x-request-id"])
    var response: GatewayResponse
    switch router.match(method: request.method, path: request.path) {
    case .notFound:
      response = APIError.notFound("no route for \(request.method) \(Self.quoted(request.path))").response
    case .methodNotAllowed(let allowed):
      response = APIError.methodNotAllowed(allowed).response
    case .found(let route, let parameters):
      let context = RequestContext(request: request, parameters: parameters, requestId: requestId, gateway: self)
      do {
        response = try await route.handler(context)
      } catch {
        response = error.response
        if error.status >= 500 && error.status != 501 {
          logger.warning(
            "request failed",
            ["requestId": requestId, "route": "\(route.method) \(route.pattern)", "status": "\(error.status)",
             "code": error.code])
        }
      }
    }
    response.headers.set("x-request-id", requestId)
    // HEAD keeps the body here: each transport sends the GET's length and no body.
    if logger.minimumLevel <= .debug {
      // One reading of the clock: taking the seconds and the fraction from two readings could
      // straddle a second boundary and log ~1000 ms too much.
      let elapsed = ContinuousClock.now - started
      // The path only: query strings carry OAuth codes and states.
      logger.debug(
        "request",
        ["requestId": requestId, "method": request.method, "path": Self.quoted(request.path),
         "protocol": request.protocolName, "status": String(response.status),
         "milliseconds": String(elapsed.wholeMilliseconds)])
    }
    return response
  }

  /// The answer to a request that could not even be parsed (bad target): the error, a request id,
  /// and the connection closed.
  func rejected(_ error: APIError, headers: HTTPFields) -> GatewayResponse {
    var response = error.response
    response.headers.set("x-request-id", Self.requestId(from: headers["x-request-id"]))
    response.headers.set("connection", "close")
    return response
  }

  /// The client's `X-Request-Id` when it is sane (1…128 of `[A-Za-z0-9._:-]`), else a new one.
  static func requestId(from header: String?) -> String {
    if let header, !header.isEmpty, header.utf8.count <= GatewayLimits.requestIdLength,
      header.utf8.allSatisfy({ byte in
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
          || byte == 0x2E || byte == 0x5F || byte == 0x3A || byte == 0x2D
      })
    {
      return header
    }
    return RequestIDs.next()
  }

  static func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
      out.append(digits[Int(byte >> 4)])
      out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Client-supplied text in a message: bounded, control characters replaced.
  static func quoted(_ text: String) -> String { quotedForMessage(text, limit: 100) }
}

// MARK: Helpers for routes

extension RequestContext {
  /// Call options carrying the request id (as `x-request-id` metadata) and the call timeout.
  var callOptions: CallOptions {
    var metadata = Metadata()
    metadata.add("x-request-id", requestId)
    return CallOptions(timeout: gateway.configuration.callTimeout, metadata: metadata)
  }

  /// Runs a backend call, turning its failure into the mapped HTTP error.
  func call<T>(_ body: () async throws(RPCError) -> T) async throws(APIError) -> T {
    do {
      return try await body()
    } catch {
      throw StatusMapping.apiError(for: error)
    }
  }

  /// The bearer token's user, verified with auth-service.
  func authenticatedUser() async throws(APIError) -> Users.VerifiedAccessToken {
    if let token = Self.asciiBearerToken(request.headers) { return try await verify(accessToken: token) }
    let values = request.headers.values("authorization")
    guard values.count == 1, let value = values.first else {
      throw values.isEmpty
        ? .unauthenticated("an access token is required: Authorization: Bearer <token>")
        : .unauthenticated("send exactly one Authorization header")
    }
    let prefix = "bearer "
    guard value.utf8.count > prefix.utf8.count, value.prefix(prefix.count).lowercased() == prefix else {
      throw .unauthenticated("the Authorization header must be 'Bearer <token>'")
    }
    let token = String(value.dropFirst(prefix.count)).trimmingSpaces
    return try await verify(accessToken: token)
  }

  /// The token of the one `Authorization: Bearer <token>` field: the usual case, read byte-wise
  /// without building intermediate strings. Nil sends everything else (no field, several,
  /// another scheme) the general way, with its errors.
  static func asciiBearerToken(_ headers: HTTPFields) -> String? {
    var found: String?
    for field in headers where isAuthorization(field.name) {
      if found != nil { return nil }
      found = field.value
    }
    guard let value = found else { return nil }
    let bytes = value.utf8
    // The general reading compares the first seven characters, so it differs from this one only
    // when a non-ASCII byte (a combining mark) joins the seventh: that case goes its way.
    // Non-ASCII bytes further on fail `verify` on both ways alike.
    guard bytes.count > 7, bytes[bytes.index(bytes.startIndex, offsetBy: 7)] < 0x80 else { return nil }
    var index = bytes.startIndex
    for expected in "bearer ".utf8 {
      let byte = bytes[index]
      guard byte == expected || (expected != 0x20 && byte | 0x20 == expected) else { return nil }
      index = bytes.index(after: index)
    }
    var end = bytes.endIndex
    while index < end, bytes[index] == 0x20 || bytes[index] == 0x09 { index = bytes.index(after: index) }
    while index < end {
      let last = bytes[bytes.index(before: end)]
      guard last == 0x20 || last == 0x09 else { break }
      end = bytes.index(before: end)
    }
    return String(value[index..<end])
  }

  private static func isAuthorization(_ name: String) -> Bool {
    let expected = "authorization".utf8
    return name.utf8.count == expected.count && zip(name.utf8, expected).allSatisfy { $0 == $1 || $0 | 0x20 == $1 }
  }

  func verify(accessToken token: String) async throws(APIError) -> Users.VerifiedAccessToken {
    guard !token.isEmpty, token.utf8.count <= Users.Limits.accessTokenBytes,
      token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
    else {
      throw .unauthenticated(Users.Messages.invalidAccessToken)
    }
    let now = Timestamp(.now)
    if let cached = gateway.tokenCache.lookup(token, now: now) { return cached }
    let verified = try await call { () async throws(RPCError) in
      try await gateway.backends.users.verifyAccessToken(.init(accessToken: token), options: callOptions)
    }
    gateway.tokenCache.store(token, verified, now: now)
    return verified
  }

  /// Decodes a JSON body after checking its media type and size.
  func decodeJSON<T: Decodable>(_ type: T.Type) throws(APIError) -> T {
    try checkMediaType("application/json", limit: GatewayLimits.jsonBodyBytes)
    do {
      return try JSONMessageCodec().decode(T.self, from: request.body)
    } catch {
      if error.code == .invalidArgument { throw .badRequest(error.message) }
      throw .badRequest("the request body is not valid JSON")
    }
  }

  /// A form body (settings page).
  func decodeForm() throws(APIError) -> FormParameters {
    try checkMediaType("application/x-www-form-urlencoded", limit: GatewayLimits.formBodyBytes)
    var limits = FormParameters.Limits()
    limits.maxInputLength = GatewayLimits.formBodyBytes
    limits.maxParameters = 16
    do {
      return try FormParameters(parsing: request.body, limits: limits)
    } catch {
      throw .badRequest("the form is malformed: \(error.description)")
    }
  }

  private func checkMediaType(_ expected: String, limit: Int) throws(APIError) {
    guard request.body.count <= limit else { throw .payloadTooLarge(limit) }
    let mediaType = request.headers["content-type"]?.split(separator: ";").first.map {
      String($0).trimmingSpaces.lowercased()
    }
    guard mediaType == expected else { throw .unsupportedMediaType(expected) }
  }

  /// Refuses a body on routes that take none.
  func expectNoBody() throws(APIError) {
    guard request.body.isEmpty else { throw .badRequest("this route takes no request body") }
  }

  /// The `{platform}` path parameter: 404 for names that are not platforms.
  func platform() throws(APIError) -> Platform {
    let name = parameter("platform")
    guard let platform = Platform(rawValue: name) else {
      throw .notFound("unknown platform '\(Gateway.quoted(name))'; known: \(Platform.knownNames)")
    }
    return platform
  }
}

extension String {
  var trimmingSpaces: String {
    var text = Substring(self)
    while text.first == " " || text.first == "\t" { text = text.dropFirst() }
    while text.last == " " || text.last == "\t" { text = text.dropLast() }
    return String(text)
  }
}

/// New request ids: 32 hex digits. A request id correlates log lines and answers; it must not
/// repeat, and it need not be secret (the client sees it, and may choose its own). So instead of
/// 16 bytes from the CSPRNG per request, each id is a per-process counter run through SipHash
/// (`Hasher`, keyed randomly per process): distinct for distinct counters, and not guessable
/// from earlier ids.
enum RequestIDs {
  private static let counter = Atomic<UInt64>(0)

  static func next() -> String {
    let value = counter.wrappingAdd(1, ordering: .relaxed).oldValue
    var high = Hasher()
    high.combine(value)
    high.combine(0 as UInt8)
    var low = Hasher()
    low.combine(value)
    low.combine(1 as UInt8)
    let words = (UInt64(bitPattern: Int64(high.finalize())), UInt64(bitPattern: Int64(low.finalize())))
    let digits: StaticString = "0123456789abcdef"
    return String(unsafeUninitializedCapacity: 32) { buffer in
      digits.withUTF8Buffer { digits in
        for index in 0..<16 {
          buffer[index] = digits[Int((words.0 >> (60 - 4 * UInt64(index))) & 0xF)]
          buffer[16 + index] = digits[Int((words.1 >> (60 - 4 * UInt64(index))) & 0xF)]
        }
      }
      return 32
    }
  }
}

/// Access tokens verified recently, each until its expiry or the TTL, whichever is first.
final class VerifiedTokenCache: Sendable {
  private struct Entry {
    var verified: Users.VerifiedAccessToken
    var validUntil: Int64
  }

  private let entries = Mutex<[String: Entry]>([:])
  private let capacity: Int
  private let ttlMilliseconds: Int64

  init(capacity: Int, ttl: Duration) {
    self.capacity = capacity
    self.ttlMilliseconds = ttl.wholeMilliseconds
  }

  func lookup(_ token: String, now: Timestamp) -> Users.VerifiedAccessToken? {
    guard capacity > 0, ttlMilliseconds > 0 else { return nil }
    return entries.withLock { entries in
      guard let entry = entries[token] else { return nil }
      if entry.validUntil <= now.millisecondsSince1970 {
        entries[token] = nil
        return nil
      }
      return entry.verified
    }
  }

  func store(_ token: String, _ verified: Users.VerifiedAccessToken, now: Timestamp) {
    guard capacity > 0, ttlMilliseconds > 0 else { return }
    let until = min(verified.expiresAt.millisecondsSince1970, now.millisecondsSince1970 + ttlMilliseconds)
    entries.withLock { entries in
      if entries.count >= capacity {
        // Drop the expired ones; if none, start over (bounded memory beats a perfect cache).
        entries = entries.filter { $0.value.validUntil > now.millisecondsSince1970 }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
      }
      entries[token] = Entry(verified: verified, validUntil: until)
    }
  }
}
