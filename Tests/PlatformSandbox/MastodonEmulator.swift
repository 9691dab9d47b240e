import Foundation
import HayonCrypto
import HayonHTTP1
import Synchronization

/// A status (or scheduled status) made with `POST /api/v1/statuses`.
public struct MastodonStatusRecord: Sendable, Hashable {
  public var id: String
  public var text: String
  public var spoilerText: String
  public var visibility: String
  public var idempotencyKey: String?
  /// Set for a scheduled status (the response was a ScheduledStatus).
  public var scheduledAt: String?
}

/// One Mastodon instance (platforms.md §6 and §8.6): app registration, Doorkeeper OAuth with
/// auto-consent and PKCE, revocation, verify_credentials, and status posting with the length
/// rule and Idempotency-Key.
public final class MastodonEmulator: Sendable, SandboxPlatform {
  static let knownScopes: Set<String> = [
    "read", "write", "follow", "push", "profile", "admin:read", "admin:write",
    "read:accounts", "read:blocks", "read:bookmarks", "read:favourites", "read:filters", "read:follows",
    "read:lists", "read:mutes", "read:notifications", "read:search", "read:statuses",
    "write:accounts", "write:blocks", "write:bookmarks", "write:conversations", "write:favourites",
    "write:filters", "write:follows", "write:lists", "write:media", "write:mutes", "write:notifications",
    "write:reports", "write:statuses",
  ]
  static let invalidGrant =
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
  static let invalidClient =
    "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."
  static let codeLifetime = 600
  static let idempotencyWindow = 3600
  /// Status creation is limited per account in fixed 3-hour windows.
  static let statusWindow = 3 * 3600

  struct Account: Sendable {
    var id: String
    var username: String
    var displayName: String
    var avatarUrl: String?
    var createdAt: Date
  }

  struct App: Sendable {
    var id: String
    var name: String
    var website: String?
    var clientId: String
    var clientSecret: String
    var redirectUris: [String]
    var scopes: [String]
  }

  struct Grant: Sendable {
    var clientId: String
    var accountId: String
    var redirectUri: String
    var scopes: [String]
    var challenge: String?
    var createdAt: Int
    var used = false
  }

  struct Token: Sendable {
    var clientId: String
    var accountId: String?
    var scopes: [String]
    var createdAt: Int
    var revoked = false
  }

  struct State: Sendable {
    var baseURL = "http://localhost"
    var domain = "localhost"
    var accounts: [Account] = []
    var signedIn: String?
    var denyNext = false
    var apps: [App] = []
    var grants: [String: Grant] = [:]
    var tokens: [String: Token] = [:]
    var statuses: [String: [MastodonStatusRecord]] = [:]
    /// The response body of each created status, replayed verbatim for a repeated Idempotency-Key.
    var statusBodies: [String: [UInt8]] = [:]
    var idempotency: [String: (statusId: String, at: Int)] = [:]
    var maxCharacters = 500
    var statusLimit = 300
    var statusWindows: [String: (start: Int, count: Int)] = [:]
    var nextId = 1
    var nextStatusId: UInt64 = 0
  }

  private let clock: SandboxClock
  private let state = Mutex(State())

  init(clock: SandboxClock) {
    self.clock = clock
  }

  func setOrigin(baseURL: String, domain: String) {
    state.withLock {
      $0.baseURL = baseURL
      $0.domain = domain
    }
  }

  // MARK: - Test API

  /// Adds a local account; returns its id (a numeric string). The first account added is the one
  /// the authorize page signs in as, until `setSignedInAccount`.
  @discardableResult
  public func addAccount(username: String, displayName: String? = nil, avatarUrl: String? = nil) -> String {
    let now = clock.now
    return state.withLock { state in
      let id = String(100_000 + state.nextId)
      state.nextId += 1
      state.accounts.append(
        Account(id: id, username: username, displayName: displayName ?? "", avatarUrl: avatarUrl, createdAt: now))
      if state.signedIn == nil { state.signedIn = id }
      return id
    }
  }

  public func setSignedInAccount(_ accountId: String) { state.withLock { $0.signedIn = accountId } }

  /// The next `/oauth/authorize` redirects with `error=access_denied`.
  public func denyNextAuthorization() { state.withLock { $0.denyNext = true } }

  /// Every token of the account answers 401 "The access token was revoked" from now on.
  public func revokeTokens(accountId: String) {
    state.withLock { state in
      for (token, record) in state.tokens where record.accountId == accountId { state.tokens[token]?.revoked = true }
    }
  }

  public func registeredApps() -> [(clientId: String, redirectUris: [String], scopes: [String])] {
    state.withLock { $0.apps.map { (clientId: $0.clientId, redirectUris: $0.redirectUris, scopes: $0.scopes) } }
  }

  /// Unrevoked user tokens of the account.
  public func liveTokenCount(accountId: String) -> Int {
    state.withLock { $0.tokens.values.filter { $0.accountId == accountId && !$0.revoked }.count }
  }

  public func statuses(accountId: String) -> [MastodonStatusRecord] {
    state.withLock { $0.statuses[accountId] ?? [] }
  }

  /// `configuration.statuses.max_characters` and the limit posts are checked against (default 500).
  public var maxCharacters: Int {
    get { state.withLock { $0.maxCharacters } }
    set { state.withLock { $0.maxCharacters = max(1, newValue) } }
  }

  public func setMaxCharacters(_ value: Int) { maxCharacters = value }

  /// Statuses an account may create per 3-hour window (default 300, as Mastodon).
  public var statusesPerThreeHours: Int {
    get { state.withLock { $0.statusLimit } }
    set { state.withLock { $0.statusLimit = max(0, newValue) } }
  }

  // MARK: - Routing

  func handle(_ request: HTTPRequest) -> HTTPResponse {
    switch (request.method, String(request.path)) {
    case ("POST", "/api/v1/apps"): return registerApp(request)
    case ("GET", "/.well-known/oauth-authorization-server"): return metadata()
    case ("GET", "/api/v2/instance"): return instance()
    case ("GET", "/oauth/authorize"): return authorize(request)
    case ("GET", "/oauth/authorize/native"): return nativeCode(request)
    case ("POST", "/oauth/token"): return token(request)
    case ("POST", "/oauth/revoke"): return revoke(request)
    case ("GET", "/api/v1/accounts/verify_credentials"): return verifyCredentials(request)
    case ("POST", "/api/v1/statuses"): return postStatus(request)
    default: return Self.error(404, "Record not found")
    }
  }

  func injectedFailure(status: Int, retryAfterSeconds: Int?) -> HTTPResponse {
    var headers = HTTPFields()
    let message: String
    switch status {
    case 429:
      message = "Too many requests"
      headers.add("X-RateLimit-Limit", "300")
      headers.add("X-RateLimit-Remaining", "0")
      headers.add(
        "X-RateLimit-Reset", SandboxHTTP.isoMicroseconds(clock.now.addingTimeInterval(Double(retryAfterSeconds ?? 60))))
    case 401: message = "This method requires an authenticated user"
    case 403: message = "This action is not allowed"
    case 404: message = "Record not found"
    case 422: message = "Validation failed"
    case 503: message = "Service Unavailable"
    default: message = status >= 500 ? "We're sorry, but something went wrong on our end." : "Bad request"
    }
    if let retryAfterSeconds { headers.add("Retry-After", String(retryAfterSeconds)) }
    return SandboxHTTP.json(status, ["error": message], headers: headers)
  }

  // MARK: - Apps and instance

  private func registerApp(_ request: HTTPRequest) -> HTTPResponse {
    guard let parameters = SandboxHTTP.parameters(request) else {
      return Self.error(400, "Error occurred while parsing request parameters")
    }
    guard let name = SandboxHTTP.string(parameters, "client_name", maxLength: 60),
      !name.trimmingCharacters(in: .whitespaces).isEmpty
    else { return Self.error(422, "Validation failed: Application name can't be blank") }
    var redirectUris: [String]
    if let list = parameters["redirect_uris"] as? [Any] {
      redirectUris = list.compactMap { $0 as? String }
    } else if let text = SandboxHTTP.string(parameters, "redirect_uris", maxLength: 8192) {
      redirectUris = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }).map(String.init)
    } else {
      redirectUris = []
    }
    guard !redirectUris.isEmpty else { return Self.error(422, "Validation failed: Redirect URI can't be blank") }
    guard redirectUris.count <= 20, redirectUris.allSatisfy(Self.isAbsoluteURI) else {
      return Self.error(422, "Validation failed: Redirect URI must be an absolute URI.")
    }
    let scopes = (SandboxHTTP.string(parameters, "scopes", maxLength: 2048) ?? "read")
      .split(separator: " ").map(String.init)
    guard !scopes.isEmpty, scopes.allSatisfy({ Self.knownScopes.contains($0) }) else {
      return Self.error(422, "Validation failed: Scopes must contain only valid scopes")
    }
    let website = SandboxHTTP.string(parameters, "website", maxLength: 2048)
    let app = state.withLock { state -> App in
      let app = App(
        id: String(state.nextId), name: name, website: website, clientId: Base64URL.encode(SecureRandom.bytes(32)),
        clientSecret: Base64URL.encode(SecureRandom.bytes(32)), redirectUris: redirectUris, scopes: scopes)
      state.nextId += 1
      state.apps.append(app)
      return app
    }
    return SandboxHTTP.json(
      200,
      [
        "id": app.id, "name": app.name, "website": SandboxHTTP.nullable(app.website), "scopes": app.scopes,
        "redirect_uri": app.redirectUris.joined(separator: "\n"), "redirect_uris": app.redirectUris,
        "client_id": app.clientId, "client_secret": app.clientSecret, "client_secret_expires_at": 0,
        "vapid_key": "",
      ])
  }

  private func metadata() -> HTTPResponse {
    let base = state.withLock { $0.baseURL }
    return SandboxHTTP.json(
      200,
      [
        "issuer": base + "/", "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": base + "/oauth/authorize", "token_endpoint": base + "/oauth/token",
        "revocation_endpoint": base + "/oauth/revoke", "userinfo_endpoint": base + "/oauth/userinfo",
        "app_registration_endpoint": base + "/api/v1/apps", "scopes_supported": Self.knownScopes.sorted(),
        "response_types_supported": ["code"], "response_modes_supported": ["query", "fragment", "form_post"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
      ])
  }

  private func instance() -> HTTPResponse {
    let (base, domain, maxCharacters) = state.withLock { ($0.baseURL, $0.domain, $0.maxCharacters) }
    return SandboxHTTP.json(
      200,
      [
        "domain": domain, "title": "Hayon Sandbox", "version": "4.4.0", "source_url": "https://github.com/mastodon/mastodon",
        "description": "Offline Mastodon emulator", "languages": ["en"],
        "usage": ["users": ["active_month": 0]],
        "thumbnail": ["url": base + "/packs/media/images/preview.png"],
        "registrations": ["enabled": false, "approval_required": false, "message": NSNull()],
        "contact": ["email": "admin@example.com", "account": NSNull()], "rules": [Any](),
        "configuration": [
          "urls": ["streaming": base.replacingOccurrences(of: "http://", with: "ws://")],
          "accounts": ["max_featured_tags": 10, "max_pinned_statuses": 5],
          "statuses": [
            "max_characters": maxCharacters, "max_media_attachments": 4, "characters_reserved_per_url": 23,
          ],
          "media_attachments": [
            "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4"],
            "image_size_limit": 16_777_216, "image_matrix_limit": 33_177_600, "video_size_limit": 103_809_024,
            "video_frame_rate_limit": 120, "video_matrix_limit": 8_294_400,
          ],
          "polls": [
            "max_options": 4, "max_characters_per_option": 50, "min_expiration": 300, "max_expiration": 2_629_746,
          ],
          "translation": ["enabled": false],
        ],
      ])
  }

  // MARK: - OAuth

  private func authorize(_ request: HTTPRequest) -> HTTPResponse {
    guard let query = SandboxHTTP.query(request) else {
      return SandboxHTTP.html(400, title: "An error has occurred", message: "The request is missing a required parameter.")
    }
    let clientId = query["client_id"] ?? ""
    let now = clock.unixSeconds
    return state.withLock { state -> HTTPResponse in
      guard let app = state.apps.first(where: { $0.clientId == clientId }) else {
        return SandboxHTTP.html(400, title: "An error has occurred", message: Self.invalidClient)
      }
      let redirectUri = query["redirect_uri"] ?? (app.redirectUris.count == 1 ? app.redirectUris[0] : "")
      guard app.redirectUris.contains(redirectUri) else {
        return SandboxHTTP.html(
          400, title: "An error has occurred", message: "The requested redirect uri is malformed or doesn't match client redirect URI.")
      }
      var extra: [(String, String)] = []
      if let stateValue = query["state"] { extra.append(("state", stateValue)) }
      func redirect(_ parameters: [(String, String)]) -> HTTPResponse {
        let base = redirectUri == "urn:ietf:wg:oauth:2.0:oob" ? state.baseURL + "/oauth/authorize/native" : redirectUri
        return HTTPResponse(status: 302, headers: ["Location": SandboxHTTP.appendingQuery(base, parameters + extra)])
      }
      guard query["response_type"] == "code" else {
        return redirect([
          ("error", "unsupported_response_type"),
          ("error_description", "The authorization server does not support this response type."),
        ])
      }
      let requested = (query["scope"] ?? "read").split(separator: " ").map(String.init)
      guard !requested.isEmpty, requested.allSatisfy({ Self.scope($0, allowedBy: app.scopes) }) else {
        return redirect([
          ("error", "invalid_scope"),
          ("error_description", "The requested scope is invalid, unknown, or malformed."),
        ])
      }
      let challenge = query["code_challenge"]
      if let challenge {
        guard query["code_challenge_method"] == "S256", (43...128).contains(challenge.utf8.count) else {
          return redirect([
            ("error", "invalid_request"),
            ("error_description", "The code challenge method must be S256."),
          ])
        }
      }
      if state.denyNext {
        state.denyNext = false
        return redirect([
          ("error", "access_denied"),
          ("error_description", "The resource owner or authorization server denied the request."),
        ])
      }
      guard let accountId = state.signedIn, state.accounts.contains(where: { $0.id == accountId }) else {
        return SandboxHTTP.html(400, title: "An error has occurred", message: "No account is signed in.")
      }
      if state.grants.count > 10_000 {
        state.grants = state.grants.filter { !$0.value.used && now < $0.value.createdAt + Self.codeLifetime }
      }
      let code = Base64URL.encode(SecureRandom.bytes(32))
      state.grants[code] = Grant(
        clientId: app.clientId, accountId: accountId, redirectUri: redirectUri, scopes: requested, challenge: challenge,
        createdAt: now)
      return redirect([("code", code)])
    }
  }

  /// Where an out-of-band (`urn:ietf:wg:oauth:2.0:oob`) authorization lands: a page showing
  /// the code for the user to copy.
  private func nativeCode(_ request: HTTPRequest) -> HTTPResponse {
    guard let code = SandboxHTTP.query(request)?["code"], !code.isEmpty, code.utf8.count <= 512 else {
      return Self.error(404, "Record not found")
    }
    return SandboxHTTP.html(200, title: "Authorization code", message: code)
  }

  private func token(_ request: HTTPRequest) -> HTTPResponse {
    guard let parameters = SandboxHTTP.parameters(request) else {
      return Self.oauthError(400, "invalid_request", "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.")
    }
    let grantType = SandboxHTTP.string(parameters, "grant_type", maxLength: 64) ?? ""
    let now = clock.unixSeconds
    return state.withLock { state -> HTTPResponse in
      guard let app = Self.authenticateClient(request, parameters, state) else {
        return Self.oauthError(401, "invalid_client", Self.invalidClient)
      }
      let tokenRecord: (String, Token)
      switch grantType {
      case "authorization_code":
        let code = SandboxHTTP.string(parameters, "code", maxLength: 512) ?? ""
        guard var grant = state.grants[code], !grant.used, grant.clientId == app.clientId,
          now < grant.createdAt + Self.codeLifetime,
          SandboxHTTP.string(parameters, "redirect_uri", maxLength: 4096) == grant.redirectUri
        else { return Self.oauthError(400, "invalid_grant", Self.invalidGrant) }
        if let challenge = grant.challenge {
          guard let verifier = SandboxHTTP.string(parameters, "code_verifier", maxLength: 256),
            PKCE.verifier(verifier, matchesChallenge: challenge)
          else { return Self.oauthError(400, "invalid_grant", Self.invalidGrant) }
        }
        grant.used = true
        state.grants[code] = grant
        // Doorkeeper's reuse_access_token: an unrevoked token for the same client, user and
        // scopes comes back instead of a new one.
        if let existing = state.tokens.first(where: {
          !$0.value.revoked && $0.value.clientId == app.clientId && $0.value.accountId == grant.accountId
            && $0.value.scopes == grant.scopes
        }) {
          tokenRecord = (existing.key, existing.value)
        } else {
          let token = Token(clientId: app.clientId, accountId: grant.accountId, scopes: grant.scopes, createdAt: now)
          let value = Base64URL.encode(SecureRandom.bytes(32))
          state.tokens[value] = token
          tokenRecord = (value, token)
        }
      case "client_credentials":
        let requested = (SandboxHTTP.string(parameters, "scope", maxLength: 2048) ?? "read").split(separator: " ").map(String.init)
        guard requested.allSatisfy({ Self.scope($0, allowedBy: app.scopes) }) else {
          return Self.oauthError(400, "invalid_scope", "The requested scope is invalid, unknown, or malformed.")
        }
        let token = Token(clientId: app.clientId, accountId: nil, scopes: requested, createdAt: now)
        let value = Base64URL.encode(SecureRandom.bytes(32))
        state.tokens[value] = token
        tokenRecord = (value, token)
      case "":
        return Self.oauthError(400, "invalid_request", "Missing required parameter: grant_type.")
      default:
        return Self.oauthError(400, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
      }
      return SandboxHTTP.json(
        200,
        [
          "access_token": tokenRecord.0, "token_type": "Bearer", "scope": tokenRecord.1.scopes.joined(separator: " "),
          "created_at": tokenRecord.1.createdAt,
        ], headers: ["Cache-Control": "no-store", "Pragma": "no-cache"])
    }
  }

  private func revoke(_ request: HTTPRequest) -> HTTPResponse {
    guard let parameters = SandboxHTTP.parameters(request) else {
      return Self.oauthError(400, "invalid_request", "The request is missing a required parameter.")
    }
    let token = SandboxHTTP.string(parameters, "token", maxLength: 4096) ?? ""
    return state.withLock { state -> HTTPResponse in
      guard let app = Self.authenticateClient(request, parameters, state) else {
        return Self.oauthError(401, "invalid_client", Self.invalidClient)
      }
      guard let record = state.tokens[token] else { return SandboxHTTP.json(200, [String: Any]()) }
      guard record.clientId == app.clientId else {
        return Self.oauthError(403, "unauthorized_client", "You are not authorized to revoke this token")
      }
      state.tokens[token]?.revoked = true
      return SandboxHTTP.json(200, [String: Any]())
    }
  }

  private static func authenticateClient(_ request: HTTPRequest, _ parameters: [String: Any], _ state: State) -> App? {
    let credentials =
      SandboxHTTP.basicCredentials(request)
      ?? SandboxHTTP.string(parameters, "client_id", maxLength: 256).map {
        ($0, SandboxHTTP.string(parameters, "client_secret", maxLength: 256) ?? "")
      }
    guard let (clientId, secret) = credentials, let app = state.apps.first(where: { $0.clientId == clientId }),
      ConstantTime.equals(app.clientSecret, secret)
    else { return nil }
    return app
  }

  /// Whether the app's scopes cover `scope` (`read` covers `read:*`, `write` covers `write:*`).
  static func scope(_ scope: String, allowedBy granted: [String]) -> Bool {
    if granted.contains(scope) { return true }
    guard let colon = scope.firstIndex(of: ":") else { return false }
    return granted.contains(String(scope[..<colon])) && knownScopes.contains(scope)
  }

  // MARK: - API

  private enum Authenticated {
    case user(Account, Token, base: String)
    case failure(HTTPResponse)
  }

  private func authenticate(_ request: HTTPRequest, scopes acceptable: [String]) -> Authenticated {
    guard let token = SandboxHTTP.bearerToken(request) else {
      return .failure(Self.error(401, "This method requires an authenticated user"))
    }
    return state.withLock { state -> Authenticated in
      guard let record = state.tokens[token] else { return .failure(Self.tokenError("The access token is invalid")) }
      if record.revoked { return .failure(Self.tokenError("The access token was revoked")) }
      guard acceptable.contains(where: { Self.scope($0, allowedBy: record.scopes) }) else {
        return .failure(Self.error(403, "This action is outside the authorized scopes"))
      }
      guard let accountId = record.accountId, let account = state.accounts.first(where: { $0.id == accountId }) else {
        return .failure(Self.error(422, "This method requires an authenticated user"))
      }
      return .user(account, record, base: state.baseURL)
    }
  }

  private func verifyCredentials(_ request: HTTPRequest) -> HTTPResponse {
    switch authenticate(request, scopes: ["read:accounts", "profile"]) {
    case .failure(let response): return response
    case .user(let account, _, let base):
      var json = accountJSON(account, base: base)
      json["source"] = [
        "privacy": "public", "sensitive": false, "language": NSNull(), "note": "", "fields": [Any](),
        "follow_requests_count": 0,
      ]
      json["role"] = ["id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": false]
      return SandboxHTTP.json(200, json)
    }
  }

  private func accountJSON(_ account: Account, base: String) -> [String: Any] {
    let avatar = account.avatarUrl ?? base + "/avatars/original/missing.png"
    let count = state.withLock { $0.statuses[account.id]?.filter { $0.scheduledAt == nil }.count ?? 0 }
    return [
      "id": account.id, "username": account.username, "acct": account.username, "display_name": account.displayName,
      "locked": false, "bot": false, "discoverable": true, "group": false,
      "created_at": SandboxHTTP.isoMilliseconds(account.createdAt), "note": "", "url": base + "/@" + account.username,
      "uri": base + "/users/" + account.username, "avatar": avatar, "avatar_static": avatar,
      "header": base + "/headers/original/missing.png", "header_static": base + "/headers/original/missing.png",
      "followers_count": 0, "following_count": 0, "statuses_count": count, "last_status_at": NSNull(),
      "emojis": [Any](), "fields": [Any](),
    ]
  }

  /// `POST /api/v1/statuses`: authentication, then the statuses rate limit (a fixed window
  /// aligned to the epoch, counting created statuses), whose `X-RateLimit-*` headers go on every
  /// answer after authentication.
  private func postStatus(_ request: HTTPRequest) -> HTTPResponse {
    let account: Account
    let token: Token
    let base: String
    switch authenticate(request, scopes: ["write:statuses"]) {
    case .failure(let response): return response
    case .user(let user, let record, let origin): (account, token, base) = (user, record, origin)
    }
    let now = clock.unixSeconds
    let windowStart = now - now % Self.statusWindow
    let (used, limit) = state.withLock { state -> (Int, Int) in
      let window = state.statusWindows[account.id]
      return (window?.start == windowStart ? window!.count : 0, state.statusLimit)
    }
    guard used < limit else {
      var response = Self.error(429, "Too many requests")
      addRateLimitHeaders(&response, remaining: 0, limit: limit, windowStart: windowStart)
      return response
    }
    var response = createStatus(request, account: account, token: token, base: base, windowStart: windowStart)
    let usedAfter = state.withLock { state in
      state.statusWindows[account.id].map { $0.start == windowStart ? $0.count : 0 } ?? 0
    }
    addRateLimitHeaders(&response, remaining: max(0, limit - usedAfter), limit: limit, windowStart: windowStart)
    return response
  }

  private func addRateLimitHeaders(_ response: inout HTTPResponse, remaining: Int, limit: Int, windowStart: Int) {
    response.headers.set("X-RateLimit-Limit", String(limit))
    response.headers.set("X-RateLimit-Remaining", String(remaining))
    response.headers.set(
      "X-RateLimit-Reset",
      SandboxHTTP.isoMicroseconds(Date(timeIntervalSince1970: Double(windowStart + Self.statusWindow))))
  }

  private func createStatus(
    _ request: HTTPRequest, account: Account, token: Token, base: String, windowStart: Int
  ) -> HTTPResponse {
    guard let parameters = SandboxHTTP.parameters(request) else {
      return Self.error(400, "Error occurred while parsing request parameters")
    }
    let text = parameters["status"] as? String ?? ""
    let spoiler = parameters["spoiler_text"] as? String ?? ""
    guard text.utf8.count <= 64 * 1024, spoiler.utf8.count <= 64 * 1024 else {
      return Self.error(422, "Validation failed: Text character limit of \(maxCharacters) exceeded")
    }
    let visibility = (parameters["visibility"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? "public"
    guard ["public", "unlisted", "private", "direct"].contains(visibility) else {
      return Self.error(422, "Validation failed: Visibility is not included in the list")
    }
    let idempotencyKey = request.headers["idempotency-key"].flatMap { $0.utf8.count <= 256 ? $0 : nil }
    let now = clock.now
    let nowSeconds = clock.unixSeconds

    if let idempotencyKey {
      let previous = state.withLock { state -> [UInt8]? in
        guard let entry = state.idempotency[account.id + "\u{0}" + idempotencyKey],
          nowSeconds < entry.at + Self.idempotencyWindow
        else { return nil }
        return state.statusBodies[entry.statusId]
      }
      if let previous {
        return HTTPResponse(status: 200, headers: ["Content-Type": "application/json; charset=utf-8"], body: previous)
      }
    }
    if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty && parameters["media_ids"] == nil {
      return Self.error(422, "Validation failed: Text can't be blank")
    }
    let limit = maxCharacters
    guard Self.countedLength(spoiler + text) <= limit else {
      return Self.error(422, "Validation failed: Text character limit of \(limit) exceeded")
    }
    var scheduledAt: Date?
    if let scheduled = parameters["scheduled_at"] as? String, !scheduled.isEmpty {
      guard let date = SandboxHTTP.parseDate(scheduled), date.timeIntervalSince(now) > 300 else {
        return Self.error(422, "Validation failed: Scheduled at The scheduled date must be in the future")
      }
      scheduledAt = date
    }

    return state.withLock { state -> HTTPResponse in
      state.nextStatusId = max(state.nextStatusId + 1, UInt64(max(0, now.timeIntervalSince1970 * 1000)) << 16)
      let id = String(state.nextStatusId)
      let json: [String: Any]
      if let scheduledAt {
        json = [
          "id": id, "scheduled_at": SandboxHTTP.isoMilliseconds(scheduledAt), "media_attachments": [Any](),
          "params": [
            "text": text, "visibility": visibility, "spoiler_text": spoiler.isEmpty ? NSNull() : spoiler,
            "idempotency": SandboxHTTP.nullable(idempotencyKey), "application_id": 1, "poll": NSNull(), "media_ids": NSNull(),
            "sensitive": NSNull(), "in_reply_to_id": NSNull(), "scheduled_at": NSNull(), "language": NSNull(),
            "with_rate_limit": false,
          ] as [String: Any],
        ]
      } else {
        let content = "<p>" + SandboxHTTP.htmlEscape(text).replacingOccurrences(of: "\n", with: "<br />") + "</p>"
        var accountJSON: [String: Any] = [
          "id": account.id, "username": account.username, "acct": account.username,
          "display_name": account.displayName, "url": base + "/@" + account.username,
        ]
        let avatar = account.avatarUrl ?? base + "/avatars/original/missing.png"
        accountJSON["avatar"] = avatar
        accountJSON["avatar_static"] = avatar
        let appName = state.apps.first(where: { $0.clientId == token.clientId })
        json = [
          "id": id, "created_at": SandboxHTTP.isoMilliseconds(now), "url": base + "/@" + account.username + "/" + id,
          "uri": base + "/users/" + account.username + "/statuses/" + id, "content": content, "text": text,
          "visibility": visibility, "spoiler_text": spoiler, "sensitive": !spoiler.isEmpty, "language": NSNull(),
          "in_reply_to_id": NSNull(), "in_reply_to_account_id": NSNull(), "reblog": NSNull(), "poll": NSNull(),
          "card": NSNull(), "replies_count": 0, "reblogs_count": 0, "favourites_count": 0,
          "media_attachments": [Any](), "mentions": [Any](), "tags": [Any](), "emojis": [Any](),
          "account": accountJSON,
          "application": ["name": appName?.name ?? "Web", "website": SandboxHTTP.nullable(appName?.website)] as [String: Any],
        ]
      }
      state.statuses[account.id, default: []].append(
        MastodonStatusRecord(
          id: id, text: text, spoilerText: spoiler, visibility: visibility, idempotencyKey: idempotencyKey,
          scheduledAt: scheduledAt.map(SandboxHTTP.isoMilliseconds)))
      let response = SandboxHTTP.json(200, json)
      var window = state.statusWindows[account.id] ?? (start: windowStart, count: 0)
      if window.start != windowStart { window = (start: windowStart, count: 0) }
      window.count += 1
      state.statusWindows[account.id] = window
      state.statusBodies[id] = response.body
      if let idempotencyKey {
        if state.idempotency.count > 10_000 {
          state.idempotency = state.idempotency.filter { nowSeconds < $0.value.at + Self.idempotencyWindow }
        }
        state.idempotency[account.id + "\u{0}" + idempotencyKey] = (id, nowSeconds)
      }
      return response
    }
  }

  /// Mastodon's length rule: graphemes of the text with every URL counted as 23 characters and
  /// `@user@domain` counted as `@user`.
  static func countedLength(_ text: String) -> Int {
    let urls = /https?:\/\/[^\s<>"]+/
    let mentions = /@([A-Za-z0-9_]+)@[A-Za-z0-9.\-]+[A-Za-z0-9]/
    let withoutURLs = text.replacing(urls, with: { _ in String(repeating: "x", count: 23) })
    let withoutDomains = withoutURLs.replacing(mentions, with: { "@" + $0.output.1 })
    return withoutDomains.count
  }

  // MARK: - Errors

  static func error(_ status: Int, _ message: String) -> HTTPResponse {
    SandboxHTTP.json(status, ["error": message])
  }

  static func tokenError(_ description: String) -> HTTPResponse {
    SandboxHTTP.json(
      401, ["error": description],
      headers: [
        "WWW-Authenticate": "Bearer realm=\"Doorkeeper\", error=\"invalid_token\", error_description=\"\(description)\""
      ])
  }

  static func oauthError(_ status: Int, _ error: String, _ description: String) -> HTTPResponse {
    var headers: HTTPFields = ["Cache-Control": "no-store", "Pragma": "no-cache"]
    if status == 401 {
      headers.add("WWW-Authenticate", "Bearer realm=\"Doorkeeper\", error=\"\(error)\", error_description=\"\(description)\"")
    }
    return SandboxHTTP.json(status, ["error": error, "error_description": description], headers: headers)
  }

  static func isAbsoluteURI(_ text: String) -> Bool {
    if text == "urn:ietf:wg:oauth:2.0:oob" { return true }
    guard text.utf8.count <= 2048, !text.contains("#"), let components = URLComponents(string: text),
      let scheme = components.scheme, !scheme.isEmpty
    else { return false }
    if scheme == "http" || scheme == "https" { return !(components.host ?? "").isEmpty }
    return true
  }
}
