import Foundation
import HayonCrypto
import PlatformSandbox
import Testing

private let redirect = "https://app.example/callback"

private struct RegisteredApp {
  var clientId: String
  var clientSecret: String
}

private func registerApp(_ sandbox: PlatformSandbox, scopes: String = "write:statuses write:media profile")
  async throws -> RegisteredApp
{
  let reply = try await sandbox.post(
    "/api/v1/apps", json: ["client_name": "Hayon", "redirect_uris": [redirect], "scopes": scopes, "website": "https://hayon.example"])
  try #require(reply.status == 200, "\(reply.text)")
  return RegisteredApp(
    clientId: reply.json["client_id"] as? String ?? "", clientSecret: reply.json["client_secret"] as? String ?? "")
}

private func authorizeTarget(
  _ app: RegisteredApp, scope: String = "write:statuses profile", state: String = "xyz", challenge: String? = nil,
  redirectUri: String = redirect
) -> String {
  var items = [
    URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: app.clientId),
    URLQueryItem(name: "redirect_uri", value: redirectUri), URLQueryItem(name: "scope", value: scope),
    URLQueryItem(name: "state", value: state),
  ]
  if let challenge {
    items += [
      URLQueryItem(name: "code_challenge", value: challenge), URLQueryItem(name: "code_challenge_method", value: "S256"),
    ]
  }
  var components = URLComponents()
  components.path = "/oauth/authorize"
  components.queryItems = items
  return components.percentEncodedPath + "?" + formQuery(items)
}

private func formQuery(_ items: [URLQueryItem]) -> String {
  items.map { "\(formEncode($0.name))=\(formEncode($0.value ?? ""))" }.joined(separator: "&")
}

/// Runs authorize + token with PKCE; returns the access token.
private func connect(_ sandbox: PlatformSandbox, _ app: RegisteredApp, scope: String = "write:statuses profile")
  async throws -> String
{
  let verifier = PKCE.makeVerifier()
  let authorize = try await sandbox.get(authorizeTarget(app, scope: scope, challenge: try PKCE.challenge(forVerifier: verifier)))
  try #require(authorize.status == 302, "\(authorize.text)")
  let code = try #require(queryItems(authorize.header("Location") ?? "")["code"])
  let token = try await sandbox.post(
    "/oauth/token",
    form: [
      ("grant_type", "authorization_code"), ("code", code), ("client_id", app.clientId),
      ("client_secret", app.clientSecret), ("redirect_uri", redirect), ("code_verifier", verifier),
    ])
  try #require(token.status == 200, "\(token.text)")
  return token.json["access_token"] as? String ?? ""
}

@Suite("Mastodon emulator")
struct MastodonEmulatorTests {
  @Test("apps: JSON array or form string of redirect URIs, default scope read")
  func registerApps() async throws {
    try await withSandbox { sandbox in
      let json = try await sandbox.post(
        "/api/v1/apps", json: ["client_name": "Hayon", "redirect_uris": [redirect, "https://b.example/cb"], "scopes": "read write"])
      #expect(json.status == 200)
      #expect(json.json["scopes"] as? [String] == ["read", "write"])
      #expect(json.json["redirect_uris"] as? [String] == [redirect, "https://b.example/cb"])
      #expect(json.json["redirect_uri"] as? String == "\(redirect)\nhttps://b.example/cb")
      #expect((json.json["client_id"] as? String)?.isEmpty == false)
      #expect((json.json["client_secret"] as? String)?.isEmpty == false)
      #expect(json.json["client_secret_expires_at"] as? Int == 0)

      let form = try await sandbox.post(
        "/api/v1/apps", form: [("client_name", "Form"), ("redirect_uris", "\(redirect)\nurn:ietf:wg:oauth:2.0:oob")])
      #expect(form.status == 200)
      #expect(form.json["scopes"] as? [String] == ["read"])
      #expect(form.json["redirect_uris"] as? [String] == [redirect, "urn:ietf:wg:oauth:2.0:oob"])

      let apps = sandbox.mastodon.registeredApps()
      #expect(apps.count == 2)
      #expect(apps[0].clientId == json.json["client_id"] as? String)
      #expect(apps[1].redirectUris == [redirect, "urn:ietf:wg:oauth:2.0:oob"])
      #expect(apps[1].scopes == ["read"])

      for bad in [["client_name": "x", "redirect_uris": "/relative"], ["client_name": "x"], ["client_name": "x", "redirect_uris": "not a uri"]] {
        let reply = try await sandbox.post("/api/v1/apps", json: bad)
        #expect(reply.status == 422)
        #expect(reply.error?.hasPrefix("Validation failed: Redirect URI") == true, "\(reply.text)")
      }
      let relative = try await sandbox.post("/api/v1/apps", json: ["client_name": "x", "redirect_uris": "/relative"])
      #expect(relative.error == "Validation failed: Redirect URI must be an absolute URI.")
      #expect(sandbox.mastodon.registeredApps().count == 2)
    }
  }

  @Test("instance metadata and OAuth server metadata")
  func metadata() async throws {
    try await withSandbox { sandbox in
      let instance = try await sandbox.get("/api/v2/instance")
      #expect(instance.status == 200)
      #expect(instance.json["domain"] as? String == String(sandbox.baseURL.dropFirst("http://".count)))
      let statuses = (instance.json["configuration"] as? [String: Any])?["statuses"] as? [String: Any]
      #expect(statuses?["max_characters"] as? Int == 500)
      #expect(statuses?["characters_reserved_per_url"] as? Int == 23)
      sandbox.mastodon.maxCharacters = 1000
      let changed = try await sandbox.get("/api/v2/instance")
      #expect(((changed.json["configuration"] as? [String: Any])?["statuses"] as? [String: Any])?["max_characters"] as? Int == 1000)

      let metadata = try await sandbox.get("/.well-known/oauth-authorization-server")
      #expect(metadata.status == 200)
      #expect(metadata.json["authorization_endpoint"] as? String == sandbox.baseURL + "/oauth/authorize")
      #expect(metadata.json["token_endpoint"] as? String == sandbox.baseURL + "/oauth/token")
      #expect(metadata.json["revocation_endpoint"] as? String == sandbox.baseURL + "/oauth/revoke")
      #expect(metadata.json["code_challenge_methods_supported"] as? [String] == ["S256"])
    }
  }

  @Test("authorize auto-consents and redirects with the code and the exact state; token exchange with PKCE")
  func fullFlow() async throws {
    try await withSandbox { sandbox in
      let accountId = sandbox.mastodon.addAccount(username: "alice", displayName: "Alice", avatarUrl: "https://cdn.example/a.png")
      #expect(Int(accountId) != nil)
      let app = try await registerApp(sandbox)
      let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
      let state = "a b&c=d/é+~"
      let authorize = try await sandbox.get(
        authorizeTarget(app, state: state, challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
      #expect(authorize.status == 302)
      let location = try #require(authorize.header("Location"))
      #expect(location.hasPrefix(redirect + "?code="))
      #expect(location.contains("state=a%20b%26c%3Dd%2F%C3%A9%2B~"))
      let items = queryItems(location)
      #expect(items["state"] == state)
      let code = try #require(items["code"])

      let token = try await sandbox.post(
        "/oauth/token",
        form: [
          ("grant_type", "authorization_code"), ("code", code), ("client_id", app.clientId),
          ("client_secret", app.clientSecret), ("redirect_uri", redirect), ("code_verifier", verifier),
        ])
      #expect(token.status == 200, "\(token.text)")
      #expect(token.json["token_type"] as? String == "Bearer")
      #expect(token.json["scope"] as? String == "write:statuses profile")
      #expect(token.json["created_at"] as? Int == Int(sandbox.clock.now.timeIntervalSince1970))
      #expect(token.json["expires_in"] == nil && token.json["refresh_token"] == nil)
      #expect(token.header("Cache-Control") == "no-store")
      let accessToken = try #require(token.json["access_token"] as? String)
      #expect(sandbox.mastodon.liveTokenCount(accountId: accountId) == 1)

      let me = try await sandbox.get("/api/v1/accounts/verify_credentials", bearer: accessToken)
      #expect(me.status == 200)
      #expect(me.json["id"] as? String == accountId)
      #expect(me.json["username"] as? String == "alice")
      #expect(me.json["acct"] as? String == "alice")
      #expect(me.json["display_name"] as? String == "Alice")
      #expect(me.json["avatar"] as? String == "https://cdn.example/a.png")
      #expect(me.json["avatar_static"] as? String == "https://cdn.example/a.png")
      #expect(me.json["url"] as? String == sandbox.baseURL + "/@alice")
      #expect(me.json["note"] as? String == "")
      #expect(me.json["source"] is [String: Any])

      // The code is single-use.
      let reused = try await sandbox.post(
        "/oauth/token",
        form: [
          ("grant_type", "authorization_code"), ("code", code), ("client_id", app.clientId),
          ("client_secret", app.clientSecret), ("redirect_uri", redirect), ("code_verifier", verifier),
        ])
      #expect(reused.status == 400)
      #expect(reused.error == "invalid_grant")
      #expect((reused.json["error_description"] as? String)?.hasPrefix("The provided authorization grant is invalid") == true)
    }
  }

  @Test("token endpoint failures: PKCE mismatch, missing verifier, redirect mismatch, bad client, expired code")
  func tokenFailures() async throws {
    try await withSandbox { sandbox in
      sandbox.mastodon.addAccount(username: "alice")
      let app = try await registerApp(sandbox)
      let other = try await registerApp(sandbox)
      let verifier = PKCE.makeVerifier()
      func code() async throws -> String {
        let reply = try await sandbox.get(authorizeTarget(app, challenge: try PKCE.challenge(forVerifier: verifier)))
        return try #require(queryItems(reply.header("Location") ?? "")["code"])
      }
      func exchange(_ fields: [(String, String)]) async throws -> Reply {
        try await sandbox.post("/oauth/token", form: [("grant_type", "authorization_code")] + fields)
      }
      let first = try await code()
      let mismatch = try await exchange([
        ("code", first), ("client_id", app.clientId), ("client_secret", app.clientSecret), ("redirect_uri", redirect),
        ("code_verifier", PKCE.makeVerifier()),
      ])
      #expect(mismatch.status == 400 && mismatch.error == "invalid_grant")
      let noVerifier = try await exchange([
        ("code", first), ("client_id", app.clientId), ("client_secret", app.clientSecret), ("redirect_uri", redirect),
      ])
      #expect(noVerifier.status == 400 && noVerifier.error == "invalid_grant")
      let wrongRedirect = try await exchange([
        ("code", first), ("client_id", app.clientId), ("client_secret", app.clientSecret),
        ("redirect_uri", "https://app.example/other"), ("code_verifier", verifier),
      ])
      #expect(wrongRedirect.status == 400 && wrongRedirect.error == "invalid_grant")
      let otherClient = try await exchange([
        ("code", first), ("client_id", other.clientId), ("client_secret", other.clientSecret), ("redirect_uri", redirect),
        ("code_verifier", verifier),
      ])
      #expect(otherClient.status == 400 && otherClient.error == "invalid_grant")
      let badSecret = try await exchange([
        ("code", first), ("client_id", app.clientId), ("client_secret", "wrong"), ("redirect_uri", redirect),
        ("code_verifier", verifier),
      ])
      #expect(badSecret.status == 401 && badSecret.error == "invalid_client")
      let unknownClient = try await exchange([("code", first), ("client_id", "nope"), ("redirect_uri", redirect)])
      #expect(unknownClient.status == 401 && unknownClient.error == "invalid_client")
      // After all those failures the code still works once (Doorkeeper only consumes it on success).
      let good = try await exchange([
        ("code", first), ("client_id", app.clientId), ("client_secret", app.clientSecret), ("redirect_uri", redirect),
        ("code_verifier", verifier),
      ])
      #expect(good.status == 200)

      // Codes expire after 10 minutes of sandbox time.
      let late = try await code()
      sandbox.clock.advance(by: 601)
      let expired = try await exchange([
        ("code", late), ("client_id", app.clientId), ("client_secret", app.clientSecret), ("redirect_uri", redirect),
        ("code_verifier", verifier),
      ])
      #expect(expired.status == 400 && expired.error == "invalid_grant")
      let garbage = try await exchange([
        ("code", "garbage"), ("client_id", app.clientId), ("client_secret", app.clientSecret), ("redirect_uri", redirect),
      ])
      #expect(garbage.status == 400 && garbage.error == "invalid_grant")
      let refresh = try await sandbox.post(
        "/oauth/token",
        form: [("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", app.clientId), ("client_secret", app.clientSecret)])
      #expect(refresh.status == 400 && refresh.error == "unsupported_grant_type")
    }
  }

  @Test("authorize errors: unknown client, unregistered redirect, scope, denial")
  func authorizeErrors() async throws {
    try await withSandbox { sandbox in
      sandbox.mastodon.addAccount(username: "alice")
      let app = try await registerApp(sandbox, scopes: "write:statuses profile")
      let unknown = try await sandbox.get(authorizeTarget(RegisteredApp(clientId: "nope", clientSecret: "")))
      #expect(unknown.status == 400 && unknown.header("Location") == nil)
      let unregistered = try await sandbox.get(authorizeTarget(app, redirectUri: "https://evil.example/cb"))
      #expect(unregistered.status == 400 && unregistered.header("Location") == nil)

      let scope = try await sandbox.get(authorizeTarget(app, scope: "read write:statuses", state: "s1"))
      #expect(scope.status == 302)
      let scopeItems = queryItems(scope.header("Location") ?? "")
      #expect(scopeItems["error"] == "invalid_scope")
      #expect(scopeItems["state"] == "s1")
      #expect(scopeItems["code"] == nil)

      sandbox.mastodon.denyNextAuthorization()
      let denied = try await sandbox.get(authorizeTarget(app, state: "s2"))
      #expect(denied.status == 302)
      let deniedItems = queryItems(denied.header("Location") ?? "")
      #expect(deniedItems["error"] == "access_denied")
      #expect(deniedItems["error_description"]?.isEmpty == false)
      #expect(deniedItems["state"] == "s2")
      // Only the next one is denied.
      let after = try await sandbox.get(authorizeTarget(app, state: "s3"))
      #expect(queryItems(after.header("Location") ?? "")["code"] != nil)
    }
  }

  @Test("setSignedInAccount chooses who the authorize page signs in as")
  func signedInAccount() async throws {
    try await withSandbox { sandbox in
      let alice = sandbox.mastodon.addAccount(username: "alice")
      let bob = sandbox.mastodon.addAccount(username: "bob")
      let app = try await registerApp(sandbox)
      let aliceToken = try await connect(sandbox, app)
      sandbox.mastodon.setSignedInAccount(bob)
      let bobToken = try await connect(sandbox, app)
      #expect(try await sandbox.get("/api/v1/accounts/verify_credentials", bearer: aliceToken).json["id"] as? String == alice)
      #expect(try await sandbox.get("/api/v1/accounts/verify_credentials", bearer: bobToken).json["username"] as? String == "bob")
    }
  }

  @Test("revoke: 200 {} and idempotent, 403 for another client's token; bearer failures")
  func revokeAndBearerFailures() async throws {
    try await withSandbox { sandbox in
      let accountId = sandbox.mastodon.addAccount(username: "alice")
      let app = try await registerApp(sandbox)
      let other = try await registerApp(sandbox)
      let token = try await connect(sandbox, app)

      let foreign = try await sandbox.post(
        "/oauth/revoke", form: [("client_id", other.clientId), ("client_secret", other.clientSecret), ("token", token)])
      #expect(foreign.status == 403 && foreign.error == "unauthorized_client")
      #expect(foreign.json["error_description"] as? String == "You are not authorized to revoke this token")
      #expect(try await sandbox.get("/api/v1/accounts/verify_credentials", bearer: token).status == 200)

      for _ in 0..<2 {
        let revoked = try await sandbox.post(
          "/oauth/revoke", form: [("client_id", app.clientId), ("client_secret", app.clientSecret), ("token", token)])
        #expect(revoked.status == 200 && revoked.text == "{}")
      }
      let unknownToken = try await sandbox.post(
        "/oauth/revoke", form: [("client_id", app.clientId), ("client_secret", app.clientSecret), ("token", "nope")])
      #expect(unknownToken.status == 200)
      #expect(sandbox.mastodon.liveTokenCount(accountId: accountId) == 0)

      let afterRevoke = try await sandbox.get("/api/v1/accounts/verify_credentials", bearer: token)
      #expect(afterRevoke.status == 401 && afterRevoke.error == "The access token was revoked")
      #expect(
        afterRevoke.header("WWW-Authenticate")
          == "Bearer realm=\"Doorkeeper\", error=\"invalid_token\", error_description=\"The access token was revoked\"")
      let invalid = try await sandbox.get("/api/v1/accounts/verify_credentials", bearer: "nope")
      #expect(invalid.status == 401 && invalid.error == "The access token is invalid")
      #expect(invalid.header("WWW-Authenticate")?.contains("error_description=\"The access token is invalid\"") == true)
      let none = try await sandbox.get("/api/v1/accounts/verify_credentials")
      #expect(none.status == 401 && none.error == "This method requires an authenticated user")

      // A new connection gets a new token; the revokeTokens hook kills it too.
      let second = try await connect(sandbox, app)
      #expect(second != token)
      #expect(sandbox.mastodon.liveTokenCount(accountId: accountId) == 1)
      sandbox.mastodon.revokeTokens(accountId: accountId)
      #expect(sandbox.mastodon.liveTokenCount(accountId: accountId) == 0)
      let hooked = try await sandbox.post("/api/v1/statuses", json: ["status": "hi"], bearer: second)
      #expect(hooked.status == 401 && hooked.error == "The access token was revoked")
    }
  }

  @Test("scopes are enforced on the API")
  func scopeChecks() async throws {
    try await withSandbox { sandbox in
      sandbox.mastodon.addAccount(username: "alice")
      let app = try await registerApp(sandbox, scopes: "read write")
      let readOnly = try await connect(sandbox, app, scope: "read")
      let post = try await sandbox.post("/api/v1/statuses", json: ["status": "hi"], bearer: readOnly)
      #expect(post.status == 403 && post.error == "This action is outside the authorized scopes")
      #expect(try await sandbox.get("/api/v1/accounts/verify_credentials", bearer: readOnly).status == 200)
      let writer = try await connect(sandbox, app, scope: "write")
      #expect(try await sandbox.post("/api/v1/statuses", json: ["status": "hi"], bearer: writer).status == 200)
    }
  }

  @Test("statuses: shape, visibility, blank, length rule with URLs and mentions, configurable limit")
  func statuses() async throws {
    try await withSandbox { sandbox in
      let accountId = sandbox.mastodon.addAccount(username: "alice", displayName: "Alice")
      let app = try await registerApp(sandbox)
      let token = try await connect(sandbox, app)

      let created = try await sandbox.post("/api/v1/statuses", json: ["status": "Hello <world>", "visibility": "unlisted"], bearer: token)
      #expect(created.status == 200, "\(created.text)")
      let id = try #require(created.json["id"] as? String)
      #expect(UInt64(id) != nil)
      #expect(created.json["url"] as? String == "\(sandbox.baseURL)/@alice/\(id)")
      #expect(created.json["uri"] as? String == "\(sandbox.baseURL)/users/alice/statuses/\(id)")
      #expect(created.json["content"] as? String == "<p>Hello &lt;world&gt;</p>")
      #expect(created.json["visibility"] as? String == "unlisted")
      #expect(created.json["created_at"] as? String == "2026-01-01T12:00:00.000Z")
      #expect((created.json["account"] as? [String: Any])?["id"] as? String == accountId)

      let form = try await sandbox.post("/api/v1/statuses", form: [("status", "from a form"), ("spoiler_text", "cw")], bearer: token)
      #expect(form.status == 200)
      #expect(form.json["visibility"] as? String == "public")
      #expect(form.json["spoiler_text"] as? String == "cw")

      let blank = try await sandbox.post("/api/v1/statuses", json: ["status": "  \n "], bearer: token)
      #expect(blank.status == 422 && blank.error == "Validation failed: Text can't be blank")
      let badVisibility = try await sandbox.post("/api/v1/statuses", json: ["status": "x", "visibility": "everyone"], bearer: token)
      #expect(badVisibility.status == 422)

      let exactly = String(repeating: "👍🏽", count: 500)
      #expect(try await sandbox.post("/api/v1/statuses", json: ["status": exactly], bearer: token).status == 200)
      let over = try await sandbox.post("/api/v1/statuses", json: ["status": exactly + "x"], bearer: token)
      #expect(over.status == 422 && over.error == "Validation failed: Text character limit of 500 exceeded")
      let spoilerCounts = try await sandbox.post("/api/v1/statuses", json: ["status": String(repeating: "a", count: 498), "spoiler_text": "abc"], bearer: token)
      #expect(spoilerCounts.status == 422)
      let url = "https://example.com/" + String(repeating: "a", count: 200)
      let withURL = String(repeating: "a", count: 476) + " " + url  // 476 + 1 + 23 = 500
      #expect(try await sandbox.post("/api/v1/statuses", json: ["status": withURL], bearer: token).status == 200)
      #expect(try await sandbox.post("/api/v1/statuses", json: ["status": "a" + withURL], bearer: token).status == 422)
      let mention = String(repeating: "a", count: 494) + " @bob@mastodon.social"  // 494 + 1 + 4 = 499
      #expect(try await sandbox.post("/api/v1/statuses", json: ["status": mention], bearer: token).status == 200)

      sandbox.mastodon.maxCharacters = 10
      let small = try await sandbox.post("/api/v1/statuses", json: ["status": "eleven chars"], bearer: token)
      #expect(small.status == 422 && small.error == "Validation failed: Text character limit of 10 exceeded")

      let records = sandbox.mastodon.statuses(accountId: accountId)
      #expect(records.count == 5)
      #expect(records[0].id == id && records[0].text == "Hello <world>" && records[0].visibility == "unlisted")
      #expect(records[0].idempotencyKey == nil)
    }
  }

  @Test("Idempotency-Key: same key within an hour returns the same status without a duplicate")
  func idempotency() async throws {
    try await withSandbox { sandbox in
      let accountId = sandbox.mastodon.addAccount(username: "alice")
      let app = try await registerApp(sandbox)
      let token = try await connect(sandbox, app)
      let key = [("Idempotency-Key", "key-1")]
      let first = try await sandbox.post("/api/v1/statuses", json: ["status": "once"], bearer: token, headers: key)
      sandbox.clock.advance(by: 3599)
      let second = try await sandbox.post("/api/v1/statuses", json: ["status": "once"], bearer: token, headers: key)
      #expect(first.status == 200 && second.status == 200)
      #expect(first.json["id"] as? String == second.json["id"] as? String)
      #expect(first.text == second.text)
      #expect(sandbox.mastodon.statuses(accountId: accountId).count == 1)
      #expect(sandbox.mastodon.statuses(accountId: accountId).first?.idempotencyKey == "key-1")

      let otherKey = try await sandbox.post("/api/v1/statuses", json: ["status": "once"], bearer: token, headers: [("Idempotency-Key", "key-2")])
      #expect(otherKey.json["id"] as? String != first.json["id"] as? String)
      sandbox.clock.advance(by: 1)
      let expired = try await sandbox.post("/api/v1/statuses", json: ["status": "once"], bearer: token, headers: key)
      #expect(expired.json["id"] as? String != first.json["id"] as? String)
      #expect(sandbox.mastodon.statuses(accountId: accountId).count == 3)
    }
  }

  @Test("scheduled_at more than 5 minutes ahead returns a ScheduledStatus; sooner is 422")
  func scheduled() async throws {
    try await withSandbox { sandbox in
      let accountId = sandbox.mastodon.addAccount(username: "alice")
      let token = try await connect(sandbox, try await registerApp(sandbox))
      let soon = try await sandbox.post("/api/v1/statuses", json: ["status": "x", "scheduled_at": "2026-01-01T12:04:00Z"], bearer: token)
      #expect(soon.status == 422)
      let later = try await sandbox.post("/api/v1/statuses", json: ["status": "x", "scheduled_at": "2026-01-01T13:00:00Z"], bearer: token)
      #expect(later.status == 200)
      #expect(later.json["scheduled_at"] as? String == "2026-01-01T13:00:00.000Z")
      #expect((later.json["params"] as? [String: Any])?["text"] as? String == "x")
      #expect(sandbox.mastodon.statuses(accountId: accountId).first?.scheduledAt == "2026-01-01T13:00:00.000Z")
    }
  }

  @Test("status creation is limited per account per 3-hour window, with X-RateLimit headers")
  func statusRateLimit() async throws {
    try await withSandbox { sandbox in
      let accountId = sandbox.mastodon.addAccount(username: "alice")
      let token = try await connect(sandbox, try await registerApp(sandbox))
      let first = try await sandbox.post("/api/v1/statuses", json: ["status": "1"], bearer: token)
      #expect(first.header("X-RateLimit-Limit") == "300")
      #expect(first.header("X-RateLimit-Remaining") == "299")
      #expect(first.header("X-RateLimit-Reset") == "2026-01-01T15:00:00.000000Z")
      sandbox.mastodon.statusesPerThreeHours = 2
      #expect(try await sandbox.post("/api/v1/statuses", json: ["status": "2"], bearer: token).header("X-RateLimit-Remaining") == "0")
      let limited = try await sandbox.post("/api/v1/statuses", json: ["status": "3"], bearer: token)
      #expect(limited.status == 429 && limited.error == "Too many requests")
      #expect(limited.header("X-RateLimit-Remaining") == "0")
      #expect(sandbox.mastodon.statuses(accountId: accountId).count == 2)
      sandbox.clock.advance(by: 3 * 3600)
      #expect(try await sandbox.post("/api/v1/statuses", json: ["status": "4"], bearer: token).status == 200)
    }
  }

  @Test("HTTP Basic client authentication and the out-of-band redirect URI")
  func basicAuthAndOutOfBand() async throws {
    try await withSandbox { sandbox in
      sandbox.mastodon.addAccount(username: "alice")
      let oob = "urn:ietf:wg:oauth:2.0:oob"
      let registered = try await sandbox.post(
        "/api/v1/apps", form: [("client_name", "cli"), ("redirect_uris", oob), ("scopes", "read write")])
      let app = RegisteredApp(
        clientId: registered.json["client_id"] as? String ?? "", clientSecret: registered.json["client_secret"] as? String ?? "")
      let authorize = try await sandbox.get(authorizeTarget(app, scope: "read", redirectUri: oob))
      #expect(authorize.status == 302)
      let location = try #require(authorize.header("Location"))
      #expect(location.hasPrefix(sandbox.baseURL + "/oauth/authorize/native?code="))
      let code = try #require(queryItems(location)["code"])
      let page = try await sandbox.get(String(location.dropFirst(sandbox.baseURL.count)))
      #expect(page.status == 200 && page.text.contains(code))
      let basic = Data("\(app.clientId):\(app.clientSecret)".utf8).base64EncodedString()
      let token = try await sandbox.post(
        "/oauth/token", form: [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", oob)],
        headers: [("Authorization", "Basic \(basic)")])
      #expect(token.status == 200, "\(token.text)")
      #expect(token.json["scope"] as? String == "read")
    }
  }

  @Test("two sandboxes are two independent instances")
  func twoInstances() async throws {
    try await withSandbox { first in
      try await withSandbox { second in
        first.mastodon.addAccount(username: "alice")
        second.mastodon.addAccount(username: "alice")
        let app = try await registerApp(first)
        let token = try await connect(first, app)
        #expect(second.mastodon.registeredApps().isEmpty)
        let elsewhere = try await second.get("/api/v1/accounts/verify_credentials", bearer: token)
        #expect(elsewhere.status == 401 && elsewhere.error == "The access token is invalid")
        let authorize = try await second.get(authorizeTarget(app))
        #expect(authorize.status == 400)
        #expect(first.baseURL != second.baseURL)
      }
    }
  }

  @Test("unknown paths answer 404 in Mastodon's shape")
  func unknownPath() async throws {
    try await withSandbox { sandbox in
      let reply = try await sandbox.get("/api/v1/nothing")
      #expect(reply.status == 404 && reply.error == "Record not found")
      #expect(try await sandbox.get("/api/v1/statuses").status == 404)
    }
  }
}
