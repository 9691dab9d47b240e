import Foundation
import HayonPlatforms
import HayonTestSupport
import Synchronization
import Testing

/// Every process the journey started, stopped whatever happens.
final class Fleet: Sendable {
  private let children = Mutex<[ChildProcess]>([])

  func start(_ product: String, _ environment: [String: String]) throws -> ChildProcess {
    let child = try ChildProcess(product: product, environment: environment)
    children.withLock { $0.append(child) }
    return child
  }

  func stopAll() async {
    for child in children.withLock({ $0 }).reversed() { await child.terminate() }
  }
}

/// A JSON-over-HTTP client for the journey (never follows redirects).
struct Web: Sendable {
  let http = URLSessionHTTPClient()

  struct Reply: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }
  }

  func send(_ method: String, _ url: String, json: Any? = nil, bearer: String? = nil) async throws -> Reply {
    var headers: [(name: String, value: String)] = []
    if let bearer { headers.append(("Authorization", "Bearer \(bearer)")) }
    var body: Data?
    if let json {
      body = try JSONSerialization.data(withJSONObject: json)
      headers.append(("Content-Type", "application/json"))
    }
    let response = try await http.send(
      PlatformHTTPRequest(method: method, url: try #require(URL(string: url)), headers: headers, body: body, timeout: .seconds(20)))
    return Reply(status: response.status, headers: response.headers, body: response.body)
  }
}

/// Polls `probe` every 50 ms until it returns a value, or fails after `timeout`.
func eventually<T>(
  _ what: String, timeout: Duration = .seconds(30), _ probe: () async throws -> T?
) async throws -> T {
  let deadline = ContinuousClock.now + timeout
  while true {
    if let value = try await probe() { return value }
    if ContinuousClock.now >= deadline { throw ChildProcessError(description: "timed out waiting for \(what)") }
    try await Task.sleep(for: .milliseconds(50))
  }
}

func listening(_ child: ChildProcess) async throws -> Int {
  let line = try await child.waitForLine(startingWith: "listening on ")
  return try #require(Int(line.split(separator: ":").last ?? ""))
}

func randomKey() -> String {
  var generator = SystemRandomNumberGenerator()
  return Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
}

/// The whole system as `scripts/run` starts it (the same executables and variables), but on
/// ports the kernel picks, in a temporary data directory, driven over HTTP only.
@Suite("End-to-end journey", .serialized)
struct JourneyTests {
  @Test func aPersonConnectsSchedulesAndKeepsPublishingThroughExpiryRevocationAndARestart() async throws {
    let data = FileManager.default.temporaryDirectory.appendingPathComponent("hayon-journey-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: data) }
    let fleet = Fleet()
    do {
      try await journey(data: data, fleet: fleet)
    } catch {
      await fleet.stopAll()
      throw error
    }
  }

  func journey(data: URL, fleet: Fleet) async throws {
    let web = Web()
    let shared = [
      "HAYON_RPC_TOKEN": "journey-\(UUID().uuidString)", "HAYON_DATA_DIR": data.path, "HAYON_LOG_LEVEL": "info",
    ]
    func environment(_ extra: [String: String]) -> [String: String] { shared.merging(extra) { $1 } }

    let sandbox = try fleet.start("platform-sandbox", ["SANDBOX_LISTEN": "127.0.0.1:0", "SANDBOX_SEED_DEMO": "1"])
    let sandboxPort = try await listening(sandbox)
    let sandboxURL = "http://127.0.0.1:\(sandboxPort)"
    let allow = "127.0.0.1:\(sandboxPort)"

    let account = try fleet.start("account-service", environment(["ACCOUNT_SERVICE_LISTEN": "127.0.0.1:0"]))
    let accountAddress = "127.0.0.1:\(try await listening(account))"
    let auth = try fleet.start(
      "auth-service",
      environment([
        "AUTH_SERVICE_LISTEN": "127.0.0.1:0", "ACCOUNT_SERVICE_ADDRESS": accountAddress,
        "HAYON_VAULT_KEYS": "v1:\(randomKey())", "HAYON_ACCESS_TOKEN_KEYS": "a1:\(randomKey())",
        "BLUESKY_PDS_URL": sandboxURL, "MASTODON_INSTANCE_URL": sandboxURL,
        // The browser's hop back to the gateway is made by this test (it knows the port only later).
        "MASTODON_REDIRECT_URI": "http://gateway.invalid/api/platform/mastodon/callback",
        "HAYON_PLATFORM_HOST_ALLOWLIST": allow,
      ]))
    let authAddress = "127.0.0.1:\(try await listening(auth))"
    let publishEnvironment = [
      "AUTH_SERVICE_ADDRESS": authAddress, "ACCOUNT_SERVICE_ADDRESS": accountAddress, "HAYON_PLATFORM_HOST_ALLOWLIST": allow,
      "PUBLISH_TICK_MS": "100", "PUBLISH_HELD_POLL_SECONDS": "1", "PUBLISH_RETRY_BASE_MS": "200",
    ]
    var publish = try fleet.start(
      "publish-service", environment(publishEnvironment.merging(["PUBLISH_SERVICE_LISTEN": "127.0.0.1:0"]) { $1 }))
    let publishPort = try await listening(publish)
    let gateway = try fleet.start(
      "gateway",
      environment([
        "GATEWAY_LISTEN": "127.0.0.1:0", "AUTH_SERVICE_ADDRESS": authAddress, "ACCOUNT_SERVICE_ADDRESS": accountAddress,
        "PUBLISH_SERVICE_ADDRESS": "127.0.0.1:\(publishPort)",
      ]))
    let api = "http://127.0.0.1:\(try await listening(gateway))"
    _ = try await eventually("readiness") { try await web.send("GET", "\(api)/readyz").status == 200 ? true : nil }

    // Sign up.
    let signUp = try await web.send("POST", "\(api)/api/auth/signup", json: ["email": "journey@example.com", "password": "a long journey password"])
    #expect(signUp.status == 201, "\(signUp.text)")
    let token = try #require((signUp.json["tokens"] as? [String: Any])?["accessToken"] as? String)

    // Connect Bluesky with an app password and Mastodon through the redirect dance.
    let bluesky = try await web.send(
      "POST", "\(api)/api/platform/bluesky/connect", json: ["identifier": "demo.bsky.social", "appPassword": "abcd-efgh-ijkl-mnop"],
      bearer: token)
    #expect(bluesky.status == 200, "\(bluesky.text)")
    let begin = try await web.send("GET", "\(api)/api/platform/mastodon/connect", bearer: token)
    let authorizeURL = try #require(begin.json["url"] as? String, "\(begin.text)")
    let authorize = try await web.send("GET", authorizeURL)
    #expect(authorize.status == 302)
    let location = try #require(authorize.headers["location"])
    let callback = try #require(URLComponents(string: location))
    let query = try #require(callback.percentEncodedQuery)
    let landed = try await web.send("GET", "\(api)\(callback.path)?\(query)")
    #expect(landed.status == 302)
    #expect(landed.headers["location"]?.hasSuffix("/settings") == true, "\(landed.headers)")

    let accounts = try await web.send("GET", "\(api)/api/accounts", bearer: token)
    let platforms = try #require(accounts.json["platforms"] as? [[String: Any]])
    func platform(_ name: String, in list: [[String: Any]]) -> [String: Any] { list.first { $0["platform"] as? String == name } ?? [:] }
    #expect(platform("bluesky", in: platforms)["connected"] as? Bool == true)
    #expect(platform("mastodon", in: platforms)["connected"] as? Bool == true)
    let did = try #require((platform("bluesky", in: platforms)["platformFields"] as? [String: Any])?["did"] as? String)
    let mastodonId = try #require((platform("mastodon", in: platforms)["platformFields"] as? [String: Any])?["accountId"] as? String)
    #expect(!accounts.text.contains("accessJwt") && !accounts.text.contains("access_token"))

    func sandboxCounts() async throws -> (posts: Int, statuses: Int, sessions: Int) {
      let b = try await web.send("GET", "\(sandboxURL)/_sandbox/bluesky/account?did=\(did)").json
      let m = try await web.send("GET", "\(sandboxURL)/_sandbox/mastodon/account?accountId=\(mastodonId)").json
      return ((b["posts"] as? [Any])?.count ?? -1, (m["statuses"] as? [Any])?.count ?? -1, b["liveSessions"] as? Int ?? -1)
    }
    func post(_ id: String) async throws -> [String: Any] { try await web.send("GET", "\(api)/api/posts/\(id)", bearer: token).json }
    func target(_ post: [String: Any], _ name: String) -> [String: Any] {
      (post["targets"] as? [[String: Any]])?.first { $0["platform"] as? String == name } ?? [:]
    }
    func schedule(_ text: String, _ platforms: [String], inSeconds seconds: Double?) async throws -> String {
      var body: [String: Any] = ["text": text, "platforms": platforms]
      if let seconds {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(secondsFromGMT: 3600)
        body["scheduledAt"] = formatter.string(from: Date().addingTimeInterval(seconds))
        body["timeZone"] = "Europe/Paris"
      }
      let created = try await web.send("POST", "\(api)/api/posts", json: body, bearer: token)
      #expect(created.status == 201, "\(created.text)")
      return try #require(created.json["id"] as? String)
    }

    // A post to both, a few seconds ahead: published on both, with their URLs.
    let first = try await schedule("Hello from the journey #hayon https://example.com", ["bluesky", "mastodon"], inSeconds: 2)
    #expect(try await post(first)["status"] as? String == "scheduled")
    let published = try await eventually("the first post published") {
      let current = try await post(first)
      return current["status"] as? String == "published" ? current : nil
    }
    #expect((target(published, "bluesky")["url"] as? String)?.isEmpty == false)
    #expect((target(published, "mastodon")["url"] as? String)?.hasPrefix(sandboxURL) == true)
    var counts = try await sandboxCounts()
    #expect(counts.posts == 1 && counts.statuses == 1)

    // The Bluesky access token expires at the platform: the next post still goes out (refresh).
    #expect(try await web.send("POST", "\(sandboxURL)/_sandbox/bluesky/expire", json: ["did": did]).status == 200)
    let second = try await schedule("Still here after the token expired", ["bluesky"], inSeconds: nil)
    _ = try await eventually("the second post published") { try await post(second)["status"] as? String == "published" ? true : nil }
    counts = try await sandboxCounts()
    #expect(counts.posts == 2)
    let log = try await web.send("GET", "\(sandboxURL)/_sandbox/requests").json["requests"] as? [[String: Any]] ?? []
    #expect(log.contains { $0["path"] as? String == "/xrpc/com.atproto.server.refreshSession" && $0["status"] as? Int == 200 })

    // Mastodon's token is revoked at the instance: the account needs reconnection, the target is held.
    #expect(try await web.send("POST", "\(sandboxURL)/_sandbox/mastodon/revoke", json: ["accountId": mastodonId]).status == 200)
    let third = try await schedule("This one waits for a reconnection", ["mastodon"], inSeconds: nil)
    _ = try await eventually("the third post held") { target(try await post(third), "mastodon")["state"] as? String == "held" ? true : nil }
    let health = platform("mastodon", in: try await web.send("GET", "\(api)/api/accounts", bearer: token).json["platforms"] as? [[String: Any]] ?? [])["health"] as? [String: Any]
    #expect(health?["status"] as? String == "revoked")
    #expect(health?["needsReconnection"] as? Bool == true)
    #expect(try await sandboxCounts().statuses == 1)

    // publish-service restarts with a post due in the middle: nothing lost, nothing doubled.
    let fourth = try await schedule("Across a restart", ["bluesky"], inSeconds: 1.5)
    await publish.terminate()
    #expect(publish.terminationStatus == 0, "\(publish.stderrText)")
    publish = try fleet.start(
      "publish-service", environment(publishEnvironment.merging(["PUBLISH_SERVICE_LISTEN": "127.0.0.1:\(publishPort)"]) { $1 }))
    _ = try await listening(publish)
    _ = try await eventually("the fourth post published") { try await post(fourth)["status"] as? String == "published" ? true : nil }
    counts = try await sandboxCounts()
    #expect(counts.posts == 3)

    // Disconnecting Bluesky revokes its session at the sandbox.
    let disconnected = try await web.send("DELETE", "\(api)/api/platform/bluesky/disconnect", bearer: token)
    #expect(disconnected.status == 200, "\(disconnected.text)")
    #expect(try await sandboxCounts().sessions == 0)

    for child in [gateway, publish, auth, account, sandbox] {
      await child.terminate()
      #expect(child.terminationStatus == 0, "\(child.executable): \(child.stderrText.suffix(2000))")
      #expect(!child.stderrText.contains(token))
    }
    await fleet.stopAll()
  }
}
