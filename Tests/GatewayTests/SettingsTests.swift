import Foundation
import Gateway
import HayonAccount
import HayonModel
import PlatformSandbox
import Testing

@Suite("settings page")
struct SettingsRenderTests {
  static let now = Timestamp(millisecondsSince1970: 1_800_000_000_000)

  static func connected(
    _ platform: Platform, status: Accounts.ConnectionStatus, needsReconnection: Bool, lastError: String? = nil,
    name: String = "Alice", handle: String = "alice.example", avatar: String? = "https://cdn.example/a.png"
  ) -> Accounts.PlatformAccount {
    Accounts.PlatformAccount(
      platform: platform, connected: true, platformId: "id-1",
      profile: Accounts.Profile(displayName: name, handle: handle, avatarUrl: avatar),
      health: Accounts.PlatformHealth(
        status: status, needsReconnection: needsReconnection, lastError: lastError, lastSuccessfulRefresh: now,
        consecutiveFailures: needsReconnection ? 1 : 0, updatedAt: now),
      platformFields: nil, connectedAt: now)
  }

  /// The HTML of one platform's section.
  static func section(_ html: String, _ platform: Platform) -> String {
    let start = html.range(of: "id=\"platform-\(platform.rawValue)\"")!.lowerBound
    let rest = html[start...]
    return String(rest[..<rest.range(of: "</section>")!.upperBound])
  }

  @Test("each health state: status shown, Reconnect/Disconnect when connected, Connect when not, prompt only when needed")
  func healthStates() {
    let states: [(Accounts.ConnectionStatus, Bool, String?)] = [
      (.active, false, nil), (.expired, true, "token expired"), (.revoked, true, "access revoked"), (.error, false, "HTTP 503 from the PDS"),
      (.error, true, "three failures"),
    ]
    for (status, needs, lastError) in states {
      var account = Accounts.SocialAccount.empty(userId: "u1")
      account[.bluesky] = Self.connected(.bluesky, status: status, needsReconnection: needs, lastError: lastError)
      let html = SettingsPage.render(email: "a@example.com", account: account, csrf: String(repeating: "c", count: 32), error: nil)
      let bluesky = Self.section(html, .bluesky)
      #expect(bluesky.contains("health-\(status.rawValue)"), "\(status)")
      #expect(bluesky.contains("Reconnect"))
      #expect(bluesky.contains("/settings/disconnect/bluesky"))
      #expect(bluesky.contains("<img src=\"https://cdn.example/a.png\""))
      #expect(bluesky.contains("Alice") && bluesky.contains("alice.example"))
      #expect(bluesky.contains("needs to be reconnected") == needs, "\(status) \(needs)")
      if let lastError, status != .active { #expect(bluesky.contains(lastError)) }
      let mastodon = Self.section(html, .mastodon)
      #expect(mastodon.contains("Not connected") && mastodon.contains(">Connect<"))
      #expect(!mastodon.contains("Disconnect") && !mastodon.contains("needs to be reconnected"))
      // Every form carries the CSRF token.
      let forms = html.components(separatedBy: "<form").count - 1
      let tokens = html.components(separatedBy: "name=\"csrf\" value=\"\(String(repeating: "c", count: 32))\"").count - 1
      #expect(forms == tokens && forms > 0)
      #expect(html.components(separatedBy: "<section").count - 1 == Platform.allCases.count)
    }
  }

  @Test("everything is escaped; only http(s) avatars; ?error= shown as words or quoted")
  func escaping() {
    var account = Accounts.SocialAccount.empty(userId: "u1")
    account[.mastodon] = Self.connected(
      .mastodon, status: .error, needsReconnection: false, lastError: "<b>boom</b>", name: "<script>alert(1)</script>",
      handle: "@\"evil\"@x'y", avatar: "javascript:alert(1)")
    let html = SettingsPage.render(
      email: "<i>me</i>@x.com", account: account, csrf: "\"><script>", error: "<img src=x onerror=alert(1)>")
    #expect(!html.contains("<script>alert"))
    #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
    #expect(html.contains("@&quot;evil&quot;@x&#39;y"))
    #expect(!html.contains("javascript:"))
    #expect(!html.contains("<b>boom"))
    #expect(!html.contains("<img src=x"))
    #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
    #expect(!html.contains("<i>me"))
    #expect(!html.contains("value=\"\"><script>"))
    let known = SettingsPage.renderSignIn(csrf: "c", error: "access_denied")
    #expect(known.contains("The platform says access was denied"))
    #expect(known.contains("action=\"/settings/login\""))
  }
}

/// `name=value` of each Set-Cookie, and whether every one is HttpOnly and SameSite.
func cookies(from response: CurlResponse) -> [String: String] {
  var jar: [String: String] = [:]
  for header in response.headerValues("set-cookie") {
    let pair = header.split(separator: ";")[0]
    let parts = pair.split(separator: "=", maxSplits: 1)
    jar[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
  }
  return jar
}

func cookieHeader(_ jar: [String: String]) -> String {
  jar.filter { !$0.value.isEmpty }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
}

@Suite("settings page over the wire", .serialized)
struct SettingsFlowTests {
  @Test("sign in on the page, CSRF, connect Bluesky and Mastodon, health prompt, disconnect, sign out", arguments: [WireProtocol.http1, .h2PriorKnowledge])
  func flow(wire: WireProtocol) async throws {
    try await withStack { stack in
      let user = try await stack.signUp()
      let did = stack.sandbox.bluesky.addAccount(handle: "alice.bsky.social", password: "abcd-efgh-ijkl-mnop", displayName: "Alice Sky")
      _ = stack.sandbox.mastodon.addAccount(username: "alice", displayName: "Alice M")

      // Signed out: the sign-in form and a CSRF cookie.
      let first = try await curl("GET", stack.url("/settings?error=session_expired"), protocol: wire)
      #expect(first.status == 200)
      #expect(first.header("content-type") == "text/html; charset=utf-8")
      #expect(first.text.contains("action=\"/settings/login\""))
      #expect(first.text.contains("Your session has expired"))
      for header in first.headerValues("set-cookie") {
        #expect(header.contains("HttpOnly") && header.contains("SameSite=Lax"), "\(header)")
      }
      var jar = cookies(from: first)
      let csrf = try #require(jar[SettingsPage.csrfCookie])
      let form = ["Content-Type": "application/x-www-form-urlencoded"]
      let email = user.email.replacingOccurrences(of: "@", with: "%40")

      // Without the token, or from another site: refused, nothing signed in.
      let noToken = try await curl(
        "POST", stack.url("/settings/login"), protocol: wire, headers: form.merging(["Cookie": cookieHeader(jar)]) { $1 },
        body: "email=\(email)&password=correct+horse+battery")
      #expect(noToken.status == 403)
      let crossSite = try await curl(
        "POST", stack.url("/settings/login"), protocol: wire,
        headers: form.merging(["Cookie": cookieHeader(jar), "Origin": "https://evil.example"]) { $1 },
        body: "csrf=\(csrf)&email=\(email)&password=correct+horse+battery")
      #expect(crossSite.status == 403)
      let wrongPassword = try await curl(
        "POST", stack.url("/settings/login"), protocol: wire, headers: form.merging(["Cookie": cookieHeader(jar)]) { $1 },
        body: "csrf=\(csrf)&email=\(email)&password=nope+nope+nope")
      #expect(wrongPassword.status == 303)
      #expect(wrongPassword.header("location") == "/settings?error=login_failed")

      let login = try await curl(
        "POST", stack.url("/settings/login"), protocol: wire, headers: form.merging(["Cookie": cookieHeader(jar)]) { $1 },
        body: "csrf=\(csrf)&email=\(email)&password=correct+horse+battery")
      #expect(login.status == 303)
      #expect(login.header("location") == "/settings")
      for header in login.headerValues("set-cookie") {
        #expect(header.contains("HttpOnly") && header.contains("SameSite=Lax") && header.contains("Path=/"), "\(header)")
      }
      jar.merge(cookies(from: login)) { $1 }
      #expect(jar[SettingsPage.sessionCookie] != nil)

      let page = try await curl("GET", stack.url("/settings"), protocol: wire, headers: ["Cookie": cookieHeader(jar)])
      #expect(page.text.contains("Signed in as <strong>\(user.email)</strong>"))
      #expect(page.text.components(separatedBy: "<section").count - 1 == Platform.allCases.count)

      // Connect Bluesky from the page.
      let connect = try await curl(
        "POST", stack.url("/settings/connect/bluesky"), protocol: wire, headers: form.merging(["Cookie": cookieHeader(jar)]) { $1 },
        body: "csrf=\(csrf)&identifier=alice.bsky.social&appPassword=abcd-efgh-ijkl-mnop")
      #expect(connect.status == 303)
      #expect(connect.header("location") == "/settings")
      var after = try await curl("GET", stack.url("/settings"), protocol: wire, headers: ["Cookie": cookieHeader(jar)])
      var bluesky = SettingsRenderTests.section(after.text, .bluesky)
      #expect(bluesky.contains("Alice Sky") && bluesky.contains("health-active") && bluesky.contains("Disconnect"))
      #expect(!bluesky.contains("needs to be reconnected"))

      // The platform revokes the session: a refresh marks it, and the page prompts to reconnect.
      stack.sandbox.bluesky.revokeSessions(did: did)
      _ = try await curl("GET", stack.url("/api/platform/bluesky/refresh"), protocol: wire, headers: bearer(user.access))
      after = try await curl("GET", stack.url("/settings"), protocol: wire, headers: ["Cookie": cookieHeader(jar)])
      bluesky = SettingsRenderTests.section(after.text, .bluesky)
      #expect(bluesky.contains("needs to be reconnected"), "\(bluesky)")

      // Mastodon's button starts the real OAuth flow; the callback lands on the page.
      let mastodon = try await curl(
        "POST", stack.url("/settings/connect/mastodon"), protocol: wire, headers: form.merging(["Cookie": cookieHeader(jar)]) { $1 },
        body: "csrf=\(csrf)&instance=")
      #expect(mastodon.status == 303)
      let authorize = try #require(mastodon.header("location"))
      #expect(authorize.hasPrefix(stack.sandbox.baseURL + "/oauth/authorize"))
      let consent = try await curl("GET", authorize)
      let back = try #require(consent.header("location"))
      let callback = try await curl(
        "GET", stack.url("/api/platform/mastodon/callback" + back[back.firstIndex(of: "?")!...]), protocol: wire)
      #expect(callback.header("location") == "/settings")
      after = try await curl("GET", stack.url("/settings"), protocol: wire, headers: ["Cookie": cookieHeader(jar)])
      #expect(SettingsRenderTests.section(after.text, .mastodon).contains("Alice M"))

      // Tumblr's flow is not available: back with a readable reason.
      let tumblr = try await curl(
        "POST", stack.url("/settings/connect/tumblr"), protocol: wire, headers: form.merging(["Cookie": cookieHeader(jar)]) { $1 },
        body: "csrf=\(csrf)")
      #expect(tumblr.header("location") == "/settings?error=not_available")

      let disconnect = try await curl(
        "POST", stack.url("/settings/disconnect/mastodon"), protocol: wire,
        headers: form.merging(["Cookie": cookieHeader(jar)]) { $1 }, body: "csrf=\(csrf)")
      #expect(disconnect.status == 303)
      after = try await curl("GET", stack.url("/settings"), protocol: wire, headers: ["Cookie": cookieHeader(jar)])
      #expect(SettingsRenderTests.section(after.text, .mastodon).contains("Not connected"))

      let logout = try await curl(
        "POST", stack.url("/settings/logout"), protocol: wire, headers: form.merging(["Cookie": cookieHeader(jar)]) { $1 },
        body: "csrf=\(csrf)")
      #expect(logout.status == 303)
      let cleared = cookies(from: logout)
      #expect(cleared[SettingsPage.sessionCookie] == "" && cleared[SettingsPage.refreshCookie] == "")
    }
  }

  @Test("an expired access cookie is renewed with the refresh cookie")
  func renewal() async throws {
    try await withStack { stack in
      let user = try await stack.signUp()
      stack.clock.advance(seconds: 3600)
      let jar = [SettingsPage.sessionCookie: user.access, SettingsPage.refreshCookie: user.refresh]
      let page = try await curl("GET", stack.url("/settings"), headers: ["Cookie": cookieHeader(jar)])
      #expect(page.text.contains("Signed in as"))
      let renewed = cookies(from: page)
      #expect(renewed[SettingsPage.sessionCookie] != nil && renewed[SettingsPage.sessionCookie] != user.access)
    }
  }
}
