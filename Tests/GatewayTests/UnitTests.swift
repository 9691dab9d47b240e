import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonHTTP1
import HayonHTTP2
import HayonModel
import HayonRPC
import HayonRuntime
import HayonUsers
import Testing

@testable import Gateway

@Suite("gateway logic without sockets")
struct UnitTests {
  @Test("the RPC→HTTP table: the issue's mapping, anything else 500 with a generic message")
  func mapping() {
    let expected: [(RPCStatusCode, Int)] = [
      (.invalidArgument, 400), (.unauthenticated, 401), (.permissionDenied, 403), (.notFound, 404),
      (.alreadyExists, 409), (.resourceExhausted, 429), (.unavailable, 503), (.deadlineExceeded, 504),
      (.unimplemented, 501), (.failedPrecondition, 409),
    ]
    for (code, status) in expected {
      #expect(StatusMapping.apiError(for: RPCError(code, "detail")).status == status, "\(code.name)")
    }
    for code in [RPCStatusCode.unknown, .internal, .dataLoss] {
      let error = StatusMapping.apiError(for: RPCError(code, "secret stack trace at db.sqlite"))
      #expect(error.status == 500)
      #expect(error.code == "internal")
      #expect(error.message == "internal error")
    }
    #expect(StatusMapping.apiError(for: RPCError(.unavailable, "10.0.0.7:50051 refused")).message.contains("10.0.0.7") == false)
    #expect(StatusMapping.apiError(for: RPCError(.invalidArgument, "email is not valid")).message == "email is not valid")
    // Reasons and retry hints travel as headers.
    var metadata = Metadata()
    metadata.add(Connections.ErrorReason.metadataKey, "needs-reconnection")
    let reconnect = StatusMapping.apiError(for: RPCError(.failedPrecondition, "reconnect", metadata: metadata))
    #expect(reconnect.headers["x-hayon-error-reason"] == "needs-reconnection")
    var limited = Metadata()
    limited.add(Users.retryAfterMetadataKey, Timestamp(Date().addingTimeInterval(90)).iso8601)
    let throttled = StatusMapping.apiError(for: RPCError(.resourceExhausted, "slow down", metadata: limited))
    #expect(throttled.status == 429)
    #expect(Int(throttled.headers["retry-after"] ?? "") .map { (85...91).contains($0) } == true)
  }

  @Test("the one error shape")
  func errorShape() throws {
    let response = APIError.badRequest("bad \"input\"").response
    #expect(response.status == 400)
    #expect(response.headers["content-type"] == "application/json")
    let object = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    #expect(object.keys.sorted() == ["error"])
    let error = try #require(object["error"] as? [String: Any])
    #expect(error.keys.sorted() == ["code", "message"])
    #expect(error["message"] as? String == "bad \"input\"")
  }

  @Test("request ids: sane ones kept, others replaced")
  func requestIds() {
    #expect(Gateway.requestId(from: "abc-123_X.y:z") == "abc-123_X.y:z")
    for insane in ["", "has space", "new\nline", String(repeating: "a", count: 129), "ümlaut", "a;b", nil] {
      let id = Gateway.requestId(from: insane)
      #expect(id != insane && id.count == 32 && id.allSatisfy(\.isHexDigit), "\(String(describing: insane))")
    }
    #expect(Gateway.requestId(from: nil) != Gateway.requestId(from: nil))
  }

  @Test("router: literal segments win, parameters bind, 405 lists methods, no empty segments")
  func router() {
    var router = Router()
    let spec = RouteSpec(operationId: "x", summary: "", tag: "t", auth: .none, responses: [], errors: [])
    router.add("GET", "/api/platform/{platform}/connect", spec) { _ throws(APIError) in GatewayResponse(status: 1) }
    router.add("POST", "/api/platform/bluesky/connect", spec) { _ throws(APIError) in GatewayResponse(status: 2) }
    router.add("GET", "/api/posts/{id}", spec) { _ throws(APIError) in GatewayResponse(status: 3) }
    if case .found(let route, let parameters) = router.match(method: "GET", path: "/api/platform/bluesky/connect") {
      #expect(route.method == "GET" && parameters == ["platform": "bluesky"])
    } else {
      Issue.record("GET bluesky connect did not match")
    }
    if case .found(let route, _) = router.match(method: "POST", path: "/api/platform/bluesky/connect") {
      #expect(route.pattern == "/api/platform/bluesky/connect")
    } else {
      Issue.record("POST bluesky connect did not match")
    }
    if case .methodNotAllowed(let allowed) = router.match(method: "POST", path: "/api/platform/mastodon/connect") {
      #expect(allowed == ["GET", "HEAD"])
    } else {
      Issue.record("expected 405")
    }
    if case .found = router.match(method: "HEAD", path: "/api/posts/p1") {} else { Issue.record("HEAD should match GET") }
    for path in ["/api/posts/", "/api/posts", "/api//posts/p1", "/api/posts/p1/", "api/posts/p1", "/API/posts/p1"] {
      if case .found = router.match(method: "GET", path: path) { Issue.record("\(path) matched") }
    }
  }

  @Test("router: a route of literals answers as the full scan would (first registered, HEAD as GET, 405 otherwise)")
  func routerLiteralRoutes() {
    var router = Router()
    let spec = RouteSpec(operationId: "x", summary: "", tag: "t", auth: .none, responses: [], errors: [])
    router.add("GET", "/api/{thing}", spec) { _ throws(APIError) in GatewayResponse(status: 1) }
    router.add("GET", "/api/accounts", spec) { _ throws(APIError) in GatewayResponse(status: 2) }
    router.add("GET", "/api/accounts", spec) { _ throws(APIError) in GatewayResponse(status: 3) }
    router.add("DELETE", "/api/accounts", spec) { _ throws(APIError) in GatewayResponse(status: 4) }
    router.add("GET", "/", spec) { _ throws(APIError) in GatewayResponse(status: 5) }
    func pattern(_ method: String, _ path: String) -> String? {
      if case .found(let route, let parameters) = router.match(method: method, path: path) {
        return "\(route.method) \(route.pattern) \(parameters)"
      }
      return nil
    }
    #expect(pattern("GET", "/api/accounts") == "GET /api/accounts [:]")
    #expect(pattern("HEAD", "/api/accounts") == "GET /api/accounts [:]")
    #expect(pattern("DELETE", "/api/accounts") == "DELETE /api/accounts [:]")
    #expect(pattern("GET", "/api/other") == "GET /api/{thing} [\"thing\": \"other\"]")
    for path in ["/api/accounts/", "/api//accounts", "/API/accounts", "/api/accounts?x"] {
      #expect(pattern("GET", path)?.hasPrefix("GET /api/accounts") != true, "\(path)")
    }
    if case .methodNotAllowed(let allowed) = router.match(method: "POST", path: "/api/accounts") {
      #expect(allowed == ["DELETE", "GET", "HEAD"])
    } else {
      Issue.record("expected 405")
    }
    // Same answers as before the literal table for every route the gateway registers.
    var gatewayRouter = Router()
    Gateway.registerRoutes(&gatewayRouter)
    for route in gatewayRouter.routes where !route.pattern.contains("{") && route.pattern != "/" {
      if case .found(let found, let parameters) = gatewayRouter.match(method: route.method, path: route.pattern) {
        #expect(found.pattern == route.pattern && found.method == route.method && parameters.isEmpty)
      } else {
        Issue.record("\(route.method) \(route.pattern) did not match itself")
      }
    }
  }

  @Test("bearer tokens: the byte-wise reading agrees with the general one, or leaves the request to it")
  func bearerTokens() {
    func token(_ fields: [(String, String)]) -> String? {
      RequestContext.asciiBearerToken(HTTPFields(fields.map { HTTPField($0.0, $0.1) }))
    }
    #expect(token([("Authorization", "Bearer abc.def")]) == "abc.def")
    #expect(token([("authorization", "bEaReR   abc \t")]) == "abc")
    #expect(token([("AUTHORIZATION", "bearer x")]) == "x")
    #expect(token([("authorization", "Bearer  ")]) == "")
    // Left to the general path (which answers with its own errors):
    #expect(token([]) == nil)
    #expect(token([("authorization", "Bearer a"), ("authorization", "Bearer b")]) == nil)
    #expect(token([("authorization", "Basic abc")]) == nil)
    #expect(token([("authorization", "Bearer\tabc")]) == nil)
    #expect(token([("authorization", "Bearer")]) == nil)
    #expect(token([("authorization", "Bearer \u{301}abc")]) == nil)
    // Non-ASCII further on is read as is; `verify` refuses it, as it does on the general path.
    #expect(token([("authorization", "Bearer aäbc")]) == "aäbc")
    #expect(token([("authorizations", "Bearer abc")]) == nil)
  }

  @Test("verified-token cache: bounded, never past the token's expiry")
  func tokenCache() {
    let now = Timestamp(millisecondsSince1970: 1_000_000)
    let cache = VerifiedTokenCache(capacity: 2, ttl: .seconds(30))
    let soon = Users.VerifiedAccessToken(userId: "u", email: "e", expiresAt: Timestamp(millisecondsSince1970: 1_005_000))
    cache.store("a", soon, now: now)
    #expect(cache.lookup("a", now: now)?.userId == "u")
    #expect(cache.lookup("a", now: Timestamp(millisecondsSince1970: 1_005_000)) == nil)
    let later = Users.VerifiedAccessToken(userId: "v", email: "e", expiresAt: Timestamp(millisecondsSince1970: 9_000_000))
    cache.store("b", later, now: now)
    #expect(cache.lookup("b", now: Timestamp(millisecondsSince1970: 1_029_000)) != nil)
    #expect(cache.lookup("b", now: Timestamp(millisecondsSince1970: 1_031_000)) == nil)
    cache.store("c", later, now: now)
    cache.store("d", later, now: now)
    cache.store("e", later, now: now)
    #expect(cache.lookup("e", now: now) != nil)
    let disabled = VerifiedTokenCache(capacity: 10, ttl: .zero)
    disabled.store("a", later, now: now)
    #expect(disabled.lookup("a", now: now) == nil)
  }

  @Test("h2c upgrade: HTTP2-Settings is unpadded base64url of whole 6-byte settings, else no settings")
  func upgradeSettings() {
    func settings(_ header: String?) -> [UInt8] {
      var headers = HTTPFields()
      headers.add("host", "example")
      if let header { headers.add("http2-settings", header) }
      return GatewayHTTP2Handoff.upgrade(from: HTTPRequest(method: "GET", target: "/", headers: headers)).settingsPayload
    }
    // SETTINGS_MAX_CONCURRENT_STREAMS = 100, SETTINGS_INITIAL_WINDOW_SIZE = 65535.
    let payload: [UInt8] = [0, 3, 0, 0, 0, 100, 0, 4, 0, 0, 0xFF, 0xFF]
    #expect(settings(Base64URL.encode(payload)) == payload)
    #expect(settings(Base64URL.encode(payload.prefix(6))) == Array(payload.prefix(6)))
    #expect(settings("") == [])
    #expect(settings(nil) == [])
    #expect(settings("AAQAAP__") == [0, 4, 0, 0, 0xFF, 0xFF])
    // Not whole settings, or not base64url (the standard alphabet, padding): no settings.
    // RFC 7540 §3.2.1 asks for base64url without padding, which 6-byte settings never need.
    #expect(settings(Base64URL.encode(payload.prefix(5))) == [])
    #expect(settings("AAQAAP//") == [])
    #expect(settings("AAQAAP__AA==") == [])
  }

  @Test("the settings page's location, relative or under the public URL, with the reason as given")
  func settingsLocation() async throws {
    // Never called: clients connect on first use.
    let client = try RPCClient(configuration: .init(target: SocketAddress(host: "127.0.0.1", port: 9), credential: nil))
    defer { Task { await client.close() } }
    let backends = GatewayBackends(
      users: Users.Client(client), connections: Connections.Client(client), accounts: Accounts.Client(client), posts: nil,
      healthTargets: [])
    let relative = Gateway(configuration: GatewayConfiguration(), backends: backends, logger: Logger(label: "test"))
    #expect(relative.settingsLocation(error: nil) == "/settings")
    #expect(relative.settingsLocation(error: "access_denied") == "/settings?error=access_denied")
    let absolute = Gateway(
      configuration: GatewayConfiguration(publicURL: "https://hayon.example"), backends: backends, logger: Logger(label: "test"))
    #expect(absolute.settingsLocation(error: "signed_out") == "https://hayon.example/settings?error=signed_out")
    #expect(absolute.settingsRedirect(error: nil).headers["location"] == "https://hayon.example/settings")
  }

  @Test("HTML escaping covers the five characters and control bytes")
  func escaping() {
    #expect(SettingsPage.escape("<a href=\"x\">'&'</a>") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
    #expect(!SettingsPage.escape("a\u{1}b").contains("\u{1}"))
  }
}
