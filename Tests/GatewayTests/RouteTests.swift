import Foundation
import Gateway
import HayonModel
import Testing

@Suite("gateway routes over HTTP/1.1, h2 prior knowledge and h2c upgrade", .serialized)
struct RouteTests {
  @Test("auth: sign-up, login, me, refresh, logout; request ids echoed and forwarded", arguments: WireProtocol.allCases)
  func authFlow(wire: WireProtocol) async throws {
    try await withStack { stack in
      let email = "alice-\(UUID().uuidString.prefix(6).lowercased())@example.com"
      let signUp = try await curl(
        "POST", stack.url("/api/auth/signup"), protocol: wire,
        headers: ["Content-Type": "application/json", "X-Request-Id": "req-signup-1"],
        body: #"{"email":"\#(email)","password":"correct horse battery"}"#)
      #expect(signUp.status == 201, "\(signUp.text)")
      #expect(signUp.protocolLine == (wire == .http1 ? "HTTP/1.1" : "HTTP/2"))
      if wire == .h2cUpgrade { #expect(signUp.statusLines.first?.contains("101") == true) }
      #expect(signUp.header("x-request-id") == "req-signup-1")
      #expect(stack.recorder.all.contains { $0.method == "Users.SignUp" && $0.requestId == "req-signup-1" })

      let duplicate = try await curl(
        "POST", stack.url("/api/auth/signup"), protocol: wire, headers: ["Content-Type": "application/json"],
        body: #"{"email":"\#(email)","password":"correct horse battery"}"#)
      #expect(duplicate.status == 409)
      #expect(duplicate.errorCode == "already_exists")

      let login = try await curl(
        "POST", stack.url("/api/auth/login"), protocol: wire, headers: ["Content-Type": "application/json"],
        body: #"{"email":"\#(email)","password":"correct horse battery"}"#)
      #expect(login.status == 200)
      let tokens = try #require(login.json?["tokens"] as? [String: Any])
      let access = try #require(tokens["accessToken"] as? String)
      let refresh = try #require(tokens["refreshToken"] as? String)
      // A generated request id when none (or an insane one) is sent.
      #expect(login.header("x-request-id")?.count == 32)

      let wrong = try await curl(
        "POST", stack.url("/api/auth/login"), protocol: wire, headers: ["Content-Type": "application/json"],
        body: #"{"email":"\#(email)","password":"wrong password!"}"#)
      #expect(wrong.status == 401)
      #expect(wrong.errorCode == "unauthenticated")

      let me = try await curl("GET", stack.url("/api/auth/me"), protocol: wire, headers: bearer(access))
      #expect(me.status == 200)
      #expect(me.json?["email"] as? String == email)

      let refreshed = try await curl(
        "POST", stack.url("/api/auth/refresh"), protocol: wire, headers: ["Content-Type": "application/json"],
        body: #"{"refreshToken":"\#(refresh)"}"#)
      #expect(refreshed.status == 200)
      let newRefresh = try #require(refreshed.json?["refreshToken"] as? String)

      let loggedOut = try await curl(
        "POST", stack.url("/api/auth/logout"), protocol: wire, headers: ["Content-Type": "application/json"],
        body: #"{"refreshToken":"\#(newRefresh)"}"#)
      #expect(loggedOut.status == 204)
      let again = try await curl(
        "POST", stack.url("/api/auth/refresh"), protocol: wire, headers: ["Content-Type": "application/json"],
        body: #"{"refreshToken":"\#(newRefresh)"}"#)
      #expect(again.status == 401)
    }
  }

  @Test("missing, malformed and expired access tokens answer 401 in the one error shape", arguments: WireProtocol.allCases)
  func unauthenticated(wire: WireProtocol) async throws {
    try await withStack { stack in
      let user = try await stack.signUp()
      for path in ["/api/accounts", "/api/auth/me", "/api/posts", "/api/platform/mastodon/connect"] {
        let missing = try await curl("GET", stack.url(path), protocol: wire)
        #expect(missing.status == 401, "\(path)")
        #expect(missing.errorCode == "unauthenticated")
        #expect(missing.header("www-authenticate") == "Bearer")
        let garbage = try await curl("GET", stack.url(path), protocol: wire, headers: bearer("not-a-token"))
        #expect(garbage.status == 401, "\(path)")
      }
      stack.clock.advance(seconds: 3600)
      let expired = try await curl("GET", stack.url("/api/accounts"), protocol: wire, headers: bearer(user.access))
      #expect(expired.status == 401)
      #expect(expired.errorMessage == "access token has expired")
    }
  }

  @Test("accounts document, health endpoints, unknown routes and platforms", arguments: WireProtocol.allCases)
  func accountsAndHealth(wire: WireProtocol) async throws {
    try await withStack { stack in
      let user = try await stack.signUp()
      let accounts = try await curl("GET", stack.url("/api/accounts"), protocol: wire, headers: bearer(user.access))
      #expect(accounts.status == 200)
      let platforms = try #require(accounts.json?["platforms"] as? [[String: Any]])
      #expect(platforms.map { $0["platform"] as? String } == Platform.allCases.map(\.rawValue))
      #expect(!accounts.text.lowercased().contains("token"))

      let live = try await curl("GET", stack.url("/healthz"), protocol: wire)
      #expect(live.status == 200)
      let head = try await curl("HEAD", stack.url("/api/openapi.json"), protocol: wire, extra: ["-I"])
      #expect(head.status == 200)
      #expect(head.body.isEmpty)
      let document = try await curl("GET", stack.url("/api/openapi.json"), protocol: wire)
      #expect(head.header("content-length") == String(document.body.count))
      let ready = try await curl("GET", stack.url("/readyz"), protocol: wire)
      #expect(ready.status == 200, "\(ready.text)")
      #expect(ready.json?["status"] as? String == "ready")

      let unknownRoute = try await curl("GET", stack.url("/api/nope"), protocol: wire)
      #expect(unknownRoute.status == 404)
      #expect(unknownRoute.errorCode == "not_found")
      let wrongMethod = try await curl("PUT", stack.url("/api/accounts"), protocol: wire)
      #expect(wrongMethod.status == 405)
      #expect(wrongMethod.header("allow") == "GET, HEAD")

      let unknownPlatform = try await curl(
        "GET", stack.url("/api/platform/myspace/connect"), protocol: wire, headers: bearer(user.access))
      #expect(unknownPlatform.status == 404)
      #expect(unknownPlatform.errorCode == "not_found")
      for platform in ["tumblr", "facebook", "instagram", "threads"] {
        let unavailable = try await curl(
          "GET", stack.url("/api/platform/\(platform)/connect"), protocol: wire, headers: bearer(user.access))
        #expect(unavailable.status == 501, "\(platform): \(unavailable.text)")
        #expect(unavailable.errorCode == "unimplemented")
        #expect(unavailable.errorMessage?.contains("not available") == true, "\(unavailable.errorMessage ?? "")")
        for (method, action) in [("GET", "refresh"), ("DELETE", "disconnect")] {
          let other = try await curl(
            method, stack.url("/api/platform/\(platform)/\(action)"), protocol: wire, headers: bearer(user.access))
          #expect(other.status == 501, "\(platform) \(action): \(other.text)")
        }
      }
      let bluesky = try await curl(
        "GET", stack.url("/api/platform/bluesky/connect"), protocol: wire, headers: bearer(user.access))
      #expect(bluesky.status == 400, "\(bluesky.text)")
      #expect(bluesky.errorMessage?.contains("app password") == true)
    }
  }

  @Test("readyz as the very first request: three first connects at once complete", arguments: [WireProtocol.http1, .h2PriorKnowledge])
  func readyzFirst(wire: WireProtocol) async throws {
    try await withStack { stack in
      let ready = try await curl("GET", stack.url("/readyz"), protocol: wire)
      #expect(ready.status == 200, "\(ready.text)")
      let services = ready.json?["services"] as? [String: String]
      #expect(services == ["auth-service": "serving", "account-service": "serving", "publish-service": "serving"])
    }
  }
}
