import Foundation
import HayonCrypto
import HayonHTTP1
import Synchronization

/// A post made with `com.atproto.repo.createRecord`.
public struct BlueskyPostRecord: Sendable, Hashable {
  public var uri: String
  public var cid: String
  public var rkey: String
  public var text: String
  /// The record's `facets` array as raw JSON (keys sorted), or nil when the record had none.
  public var facetsJSON: String?
  public var langs: [String]
  public var createdAt: String
  /// The whole record as raw JSON (keys sorted).
  public var recordJSON: String

  /// `facetsJSON` as UTF-8 bytes.
  public var facets: Data? { facetsJSON.map { Data($0.utf8) } }
}

/// The Bluesky PDS emulator (`/xrpc/…`), per platforms.md §1 and §8.1: app-password sessions
/// with real HS256 JWTs, rotating refresh tokens with a grace period, profile reads, post
/// creation with lexicon checks, handle resolution, and the createSession rate limit.
public final class BlueskyEmulator: Sendable, SandboxPlatform {
  static let accessLifetime = 120 * 60
  static let refreshLifetime = 90 * 24 * 3600
  static let refreshGrace = 2 * 3600
  static let createSessionLimit = 30
  static let createSessionWindow = 300
  /// Points a createRecord costs against the repo-write limits.
  static let createPoints = 3

  struct Account: Sendable {
    var did: String
    var handle: String
    var password: String
    var displayName: String?
    var avatarUrl: String?
    var requiresAuthFactor: Bool
    var authFactorToken: String
  }

  struct AccessRecord: Sendable {
    var did: String
    var exp: Int
    var expired = false
    var revoked = false
  }

  struct RefreshRecord: Sendable {
    var did: String
    var family: Int
    var exp: Int
    var appPassword: Bool
    /// Set once rotated: the session every reuse within the grace period answers.
    var next: SessionTokens?
    var graceUntil = 0
  }

  struct SessionTokens: Sendable {
    var accessJwt: String
    var refreshJwt: String
  }

  struct Family: Sendable {
    var did: String
    var revoked = false
  }

  struct State: Sendable {
    var accounts: [String: Account] = [:]
    var serviceHost = "localhost"
    var access: [String: AccessRecord] = [:]
    var refresh: [String: RefreshRecord] = [:]
    var families: [Int: Family] = [:]
    var nextFamily = 1
    var createSessionWindows: [String: (start: Int, count: Int)] = [:]
    var createSessionCounts: [String: Int] = [:]
    var refreshCounts: [String: Int] = [:]
    var posts: [String: [BlueskyPostRecord]] = [:]
    var lastTID: UInt64 = 0
    var writeLimits = (hour: 5000, day: 35000)
    var writeWindows: [String: WriteWindows] = [:]
  }

  /// Repo-write points of one DID in its hourly and daily windows (each starts at its first write).
  struct WriteWindows: Sendable {
    var hourStart: Int
    var hourPoints = 0
    var dayStart: Int
    var dayPoints = 0
  }

  private let clock: SandboxClock
  private let secret = SecureRandom.bytes(32)
  private let state = Mutex(State())

  init(clock: SandboxClock) {
    self.clock = clock
  }

  func setServiceHost(_ host: String) { state.withLock { $0.serviceHost = host } }

  // MARK: - Test API

  /// Adds an account and returns its DID: `did:plc:` plus 24 base32 characters derived from the
  /// lowercased handle (the same handle always gets the same DID).
  @discardableResult
  public func addAccount(
    handle: String, password: String, displayName: String? = nil, avatarUrl: String? = nil,
    requiresAuthFactor: Bool = false
  ) -> String {
    let normalized = Self.normalizeHandle(handle)
    let did = Self.did(forHandle: normalized)
    let code = Base32.encode(Digest.sha256(Array(("code:" + did).utf8))).uppercased()
    let token = String(code.prefix(5)) + "-" + String(code.dropFirst(5).prefix(5))
    let account = Account(
      did: did, handle: normalized, password: password, displayName: displayName, avatarUrl: avatarUrl,
      requiresAuthFactor: requiresAuthFactor, authFactorToken: token)
    state.withLock { $0.accounts[did] = account }
    return did
  }

  /// The email sign-in code an account with `requiresAuthFactor` must send as `authFactorToken`.
  public func authFactorToken(did: String) -> String? {
    state.withLock { $0.accounts[did]?.authFactorToken }
  }

  /// Every access JWT issued so far for `did` now answers 400 ExpiredToken "Token has expired".
  public func expireAccessTokens(did: String) {
    state.withLock { state in
      for (token, record) in state.access where record.did == did { state.access[token]?.expired = true }
    }
  }

  /// Every session of `did` is revoked: its refresh tokens answer 400 ExpiredToken "Token has
  /// been revoked", its access tokens 400 InvalidToken "Token has been revoked".
  public func revokeSessions(did: String) {
    state.withLock { state in
      for (id, family) in state.families where family.did == did { state.families[id]?.revoked = true }
      for (token, record) in state.access where record.did == did { state.access[token]?.revoked = true }
    }
  }

  /// Successful refreshSession calls for `did` (grace-period replays included).
  public func refreshCount(did: String) -> Int { state.withLock { $0.refreshCounts[did] ?? 0 } }

  /// createSession attempts (successful or not) naming `identifier` (case-insensitive, `@` stripped).
  public func createSessionCount(identifier: String) -> Int {
    let key = Self.normalizeHandle(identifier)
    return state.withLock { $0.createSessionCounts[key] ?? 0 }
  }

  /// Sessions of `did` that were neither deleted nor revoked.
  public func liveSessionCount(did: String) -> Int {
    state.withLock { state in state.families.values.filter { $0.did == did && !$0.revoked }.count }
  }

  /// The per-DID repo-write limits in points (createRecord costs 3). Defaults: 5000 per hour,
  /// 35000 per day, as the reference PDS.
  public func setRepoWriteLimits(pointsPerHour: Int, pointsPerDay: Int) {
    state.withLock { $0.writeLimits = (hour: max(0, pointsPerHour), day: max(0, pointsPerDay)) }
  }

  /// Posts created for `did`, oldest first.
  public func posts(did: String) -> [BlueskyPostRecord] { state.withLock { $0.posts[did] ?? [] } }

  // MARK: - Routing

  func handle(_ request: HTTPRequest) -> HTTPResponse {
    let method = String(request.path.dropFirst("/xrpc/".count))
    let procedures: Set<String> = [
      "com.atproto.server.createSession", "com.atproto.server.refreshSession",
      "com.atproto.server.deleteSession", "com.atproto.repo.createRecord",
    ]
    let queries: Set<String> = [
      "com.atproto.server.getSession", "app.bsky.actor.getProfile", "com.atproto.identity.resolveHandle",
    ]
    if procedures.contains(method) {
      guard request.method == "POST" else {
        return Self.error(400, "InvalidRequest", "Incorrect HTTP method (\(request.method)) expected POST")
      }
    } else if queries.contains(method) {
      guard request.method == "GET" || request.method == "HEAD" else {
        return Self.error(400, "InvalidRequest", "Incorrect HTTP method (\(request.method)) expected GET")
      }
    } else {
      return Self.error(404, "MethodNotImplemented", "Method Not Implemented")
    }
    switch method {
    case "com.atproto.server.createSession": return createSession(request)
    case "com.atproto.server.refreshSession": return refreshSession(request)
    case "com.atproto.server.deleteSession": return deleteSession(request)
    case "com.atproto.server.getSession": return getSession(request)
    case "app.bsky.actor.getProfile": return getProfile(request)
    case "com.atproto.identity.resolveHandle": return resolveHandle(request)
    default: return createRecord(request)
    }
  }

  func injectedFailure(status: Int, retryAfterSeconds: Int?) -> HTTPResponse {
    let name: String
    let message: String
    switch status {
    case 400: (name, message) = ("InvalidRequest", "Invalid Request")
    case 401: (name, message) = ("AuthenticationRequired", "Authentication Required")
    case 403: (name, message) = ("Forbidden", "Forbidden")
    case 404: (name, message) = ("NotFound", "Not Found")
    case 413: (name, message) = ("PayloadTooLarge", "Payload Too Large")
    case 429: (name, message) = ("RateLimitExceeded", "Rate Limit Exceeded")
    case 501: (name, message) = ("MethodNotImplemented", "Method Not Implemented")
    case 502: (name, message) = ("UpstreamFailure", "Upstream Failure")
    case 503: (name, message) = ("NotEnoughResources", "Not Enough Resources")
    case 504: (name, message) = ("UpstreamTimeout", "Upstream Timeout")
    default: (name, message) = ("InternalServerError", "Internal Server Error")
    }
    var headers = HTTPFields()
    if status == 429 {
      let window = retryAfterSeconds ?? 60
      headers.add("RateLimit-Limit", "3000")
      headers.add("RateLimit-Remaining", "0")
      headers.add("RateLimit-Reset", String(clock.unixSeconds + window))
      headers.add("RateLimit-Policy", "3000;w=300")
    }
    if let retryAfterSeconds { headers.add("Retry-After", String(retryAfterSeconds)) }
    return SandboxHTTP.json(status, ["error": name, "message": message], headers: headers)
  }

  // MARK: - Sessions

  private func createSession(_ request: HTTPRequest) -> HTTPResponse {
    guard let body = SandboxHTTP.jsonObject(request.body),
      let identifier = SandboxHTTP.string(body, "identifier", maxLength: 512),
      let password = SandboxHTTP.string(body, "password", maxLength: 512)
    else {
      return Self.error(400, "InvalidRequest", "Input must have the properties \"identifier\" and \"password\"")
    }
    let authFactorToken = SandboxHTTP.string(body, "authFactorToken", maxLength: 512)
    let key = Self.normalizeHandle(identifier)
    let now = clock.unixSeconds

    return state.withLock { state -> HTTPResponse in
      state.createSessionCounts[key, default: 0] += 1
      var window = state.createSessionWindows[key] ?? (start: now, count: 0)
      if now >= window.start + Self.createSessionWindow { window = (start: now, count: 0) }
      window.count += 1
      state.createSessionWindows[key] = window
      var headers = HTTPFields()
      headers.add("RateLimit-Limit", String(Self.createSessionLimit))
      headers.add("RateLimit-Remaining", String(max(0, Self.createSessionLimit - window.count)))
      headers.add("RateLimit-Reset", String(window.start + Self.createSessionWindow))
      headers.add("RateLimit-Policy", "\(Self.createSessionLimit);w=\(Self.createSessionWindow)")
      guard window.count <= Self.createSessionLimit else {
        return Self.error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers: headers)
      }
      guard let account = state.accounts[key] ?? state.accounts.values.first(where: { $0.handle == key }),
        ConstantTime.equals(account.password, password)
      else {
        return Self.error(401, "AuthenticationRequired", "Invalid identifier or password", headers: headers)
      }
      if account.requiresAuthFactor {
        guard let authFactorToken, !authFactorToken.isEmpty else {
          return Self.error(
            401, "AuthFactorTokenRequired", "A sign in code has been sent to your email address", headers: headers)
        }
        guard authFactorToken.uppercased() == account.authFactorToken else {
          return Self.error(401, "InvalidToken", "Token is invalid", headers: headers)
        }
      }
      let family = state.nextFamily
      state.nextFamily += 1
      state.families[family] = Family(did: account.did)
      let tokens = issue(&state, did: account.did, family: family, now: now, appPassword: Self.isAppPassword(password))
      return Self.sessionResponse(account, tokens, headers: headers)
    }
  }

  private func refreshSession(_ request: HTTPRequest) -> HTTPResponse {
    let claims: [String: Any]
    switch verify(request, typ: "refresh+jwt") {
    case .success(let verified): claims = verified
    case .failure(let failure): return failure.response
    }
    guard let jti = claims["jti"] as? String else {
      return Self.error(400, "InvalidToken", "Token could not be verified")
    }
    let now = clock.unixSeconds
    return state.withLock { state -> HTTPResponse in
      guard var record = state.refresh[jti], let family = state.families[record.family], !family.revoked,
        let account = state.accounts[record.did]
      else { return Self.error(400, "ExpiredToken", "Token has been revoked") }
      if let next = record.next {
        guard now < record.graceUntil else { return Self.error(400, "ExpiredToken", "Token has been revoked") }
        state.refreshCounts[record.did, default: 0] += 1
        return Self.sessionResponse(account, next)
      }
      let tokens = issue(&state, did: record.did, family: record.family, now: now, appPassword: record.appPassword)
      record.next = tokens
      record.graceUntil = min(now + Self.refreshGrace, record.exp)
      state.refresh[jti] = record
      state.refreshCounts[record.did, default: 0] += 1
      return Self.sessionResponse(account, tokens)
    }
  }

  private func deleteSession(_ request: HTTPRequest) -> HTTPResponse {
    let claims: [String: Any]
    switch verify(request, typ: "refresh+jwt") {
    case .success(let verified): claims = verified
    case .failure(let failure): return failure.response
    }
    guard let jti = claims["jti"] as? String else {
      return Self.error(400, "InvalidToken", "Token could not be verified")
    }
    state.withLock { state in
      if let family = state.refresh[jti]?.family { state.families[family]?.revoked = true }
    }
    return HTTPResponse(status: 200)
  }

  private func getSession(_ request: HTTPRequest) -> HTTPResponse {
    switch authenticatedAccount(request) {
    case .failure(let failure): return failure.response
    case .success(let account):
      return SandboxHTTP.json(
        200,
        [
          "did": account.did, "handle": account.handle, "active": true, "emailConfirmed": true,
          "emailAuthFactor": account.requiresAuthFactor, "email": "\(account.handle.split(separator: ".").first ?? "user")@example.com",
        ])
    }
  }

  private func getProfile(_ request: HTTPRequest) -> HTTPResponse {
    switch authenticatedAccount(request) {
    case .failure(let failure): return failure.response
    case .success:
      guard let actor = SandboxHTTP.query(request)?["actor"], !actor.isEmpty, actor.utf8.count <= 512 else {
        return Self.error(400, "InvalidRequest", "Error: Params must have the property \"actor\"")
      }
      let key = Self.normalizeHandle(actor)
      let found = state.withLock { state -> (Account, Int)? in
        guard let account = state.accounts[key] ?? state.accounts.values.first(where: { $0.handle == key }) else {
          return nil
        }
        return (account, state.posts[account.did]?.count ?? 0)
      }
      guard let (account, postCount) = found else {
        return Self.error(400, "InvalidRequest", "Profile not found")
      }
      var profile: [String: Any] = [
        "did": account.did, "handle": account.handle, "followersCount": 0, "followsCount": 0,
        "postsCount": postCount, "description": "", "labels": [Any](),
        "indexedAt": "2025-01-01T00:00:00.000Z", "createdAt": "2025-01-01T00:00:00.000Z",
      ]
      if let displayName = account.displayName { profile["displayName"] = displayName }
      if let avatar = account.avatarUrl { profile["avatar"] = avatar }
      return SandboxHTTP.json(200, profile)
    }
  }

  private func resolveHandle(_ request: HTTPRequest) -> HTTPResponse {
    guard let handle = SandboxHTTP.query(request)?["handle"], !handle.isEmpty, handle.utf8.count <= 512 else {
      return Self.error(400, "InvalidRequest", "Error: Params must have the property \"handle\"")
    }
    let key = Self.normalizeHandle(handle)
    guard let did = state.withLock({ state in state.accounts.values.first(where: { $0.handle == key })?.did }) else {
      return Self.error(400, "InvalidRequest", "Unable to resolve handle")
    }
    return SandboxHTTP.json(200, ["did": did])
  }

  // MARK: - Posts

  private func createRecord(_ request: HTTPRequest) -> HTTPResponse {
    let account: Account
    switch authenticatedAccount(request) {
    case .failure(let failure): return failure.response
    case .success(let authenticated): account = authenticated
    }
    guard let body = SandboxHTTP.jsonObject(request.body) else {
      return Self.error(400, "InvalidRequest", "Input must be an object")
    }
    guard let repo = SandboxHTTP.string(body, "repo", maxLength: 512) else {
      return Self.error(400, "InvalidRequest", "Input must have the property \"repo\"")
    }
    guard repo == account.did || Self.normalizeHandle(repo) == account.handle else {
      return Self.error(400, "InvalidRequest", "Invalid repo: the repo does not belong to the authenticated account")
    }
    guard let collection = SandboxHTTP.string(body, "collection", maxLength: 317) else {
      return Self.error(400, "InvalidRequest", "Input must have the property \"collection\"")
    }
    guard collection == "app.bsky.feed.post" else {
      return Self.error(400, "InvalidRequest", "Unsupported collection: \(collection)")
    }
    guard let record = body["record"] as? [String: Any] else {
      return Self.error(400, "InvalidRequest", "Input must have the property \"record\"")
    }
    if let failure = Self.validatePost(record) {
      return Self.error(400, "InvalidRequest", "Invalid app.bsky.feed.post record: \(failure)")
    }
    let text = record["text"] as? String ?? ""
    let recordJSON = String(decoding: SandboxHTTP.encode(record), as: UTF8.self)
    let facetsJSON = (record["facets"] as? [Any]).map { String(decoding: SandboxHTTP.encode($0), as: UTF8.self) }
    let cid = Self.cid(Array(recordJSON.utf8))
    let micros = UInt64(max(0, clock.now.timeIntervalSince1970 * 1_000_000))
    let now = clock.unixSeconds
    var rateHeaders = HTTPFields()
    let created = state.withLock { state -> BlueskyPostRecord? in
      var windows = state.writeWindows[account.did] ?? WriteWindows(hourStart: now, dayStart: now)
      if now >= windows.hourStart + 3600 { (windows.hourStart, windows.hourPoints) = (now, 0) }
      if now >= windows.dayStart + 86_400 { (windows.dayStart, windows.dayPoints) = (now, 0) }
      let limits = state.writeLimits
      let dayExhausted = windows.dayPoints + Self.createPoints > limits.day
      let allowed = !dayExhausted && windows.hourPoints + Self.createPoints <= limits.hour
      if allowed {
        windows.hourPoints += Self.createPoints
        windows.dayPoints += Self.createPoints
      }
      state.writeWindows[account.did] = windows
      // The headers describe the window closest to exhaustion.
      let (limit, used, start, length) =
        dayExhausted || limits.day - windows.dayPoints < limits.hour - windows.hourPoints
        ? (limits.day, windows.dayPoints, windows.dayStart, 86_400)
        : (limits.hour, windows.hourPoints, windows.hourStart, 3600)
      rateHeaders.add("RateLimit-Limit", String(limit))
      rateHeaders.add("RateLimit-Remaining", String(max(0, limit - used)))
      rateHeaders.add("RateLimit-Reset", String(start + length))
      rateHeaders.add("RateLimit-Policy", "\(limit);w=\(length)")
      guard allowed else { return nil }
      let tid = max(micros, state.lastTID + 1)
      state.lastTID = tid
      let rkey = Self.tid(micros: tid)
      let post = BlueskyPostRecord(
        uri: "at://\(account.did)/app.bsky.feed.post/\(rkey)", cid: cid, rkey: rkey, text: text,
        facetsJSON: facetsJSON, langs: record["langs"] as? [String] ?? [], createdAt: record["createdAt"] as? String ?? "",
        recordJSON: recordJSON)
      state.posts[account.did, default: []].append(post)
      return post
    }
    guard let post = created else {
      return Self.error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers: rateHeaders)
    }
    return SandboxHTTP.json(
      200,
      [
        "uri": post.uri, "cid": post.cid, "validationStatus": "valid",
        "commit": ["cid": Self.cid(Array(post.uri.utf8)), "rev": post.rkey],
      ], headers: rateHeaders)
  }

  /// The lexicon checks of §8.1 item 6; nil when the record is valid, else the message tail.
  static func validatePost(_ record: [String: Any]) -> String? {
    guard record["$type"] as? String == "app.bsky.feed.post" else {
      return "Record/$type must be app.bsky.feed.post"
    }
    guard let text = record["text"] as? String else { return "Record must have the property \"text\"" }
    let bytes = Array(text.utf8)
    if bytes.count > 3000 { return "Record/text must not be longer than 3000 characters" }
    if text.count > 300 { return "Record/text must not be longer than 300 graphemes" }
    guard let createdAt = record["createdAt"] as? String else {
      return "Record must have the property \"createdAt\""
    }
    guard SandboxHTTP.parseDate(createdAt) != nil else { return "Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)" }
    if let langs = record["langs"] {
      guard let list = langs as? [Any], list.allSatisfy({ ($0 as? String).map { !$0.isEmpty && $0.utf8.count <= 64 } ?? false }) else {
        return "Record/langs must be an array of language tags"
      }
      if list.count > 3 { return "Record/langs must not have more than 3 elements" }
    }
    if let facets = record["facets"] {
      guard let list = facets as? [Any] else { return "Record/facets must be an array" }
      for (number, facet) in list.enumerated() {
        guard let facet = facet as? [String: Any], let index = facet["index"] as? [String: Any],
          let start = index["byteStart"] as? Int, let end = index["byteEnd"] as? Int
        else { return "Record/facets/\(number)/index must have byteStart and byteEnd integers" }
        guard start >= 0, end >= start, end <= bytes.count else {
          return "Record/facets/\(number)/index is outside the text (\(bytes.count) bytes)"
        }
        let isBoundary = { (offset: Int) in offset == bytes.count || bytes[offset] & 0xC0 != 0x80 }
        guard isBoundary(start), isBoundary(end) else {
          return "Record/facets/\(number)/index does not fall on UTF-8 character boundaries"
        }
        guard let features = facet["features"] as? [Any], !features.isEmpty,
          features.allSatisfy({ ($0 as? [String: Any])?["$type"] is String })
        else { return "Record/facets/\(number)/features must be a non-empty array of typed features" }
      }
    }
    if let embed = record["embed"] {
      guard let embed = embed as? [String: Any], let type = embed["$type"] as? String else {
        return "Record/embed must be an object with $type"
      }
      if type == "app.bsky.embed.images" {
        guard let images = embed["images"] as? [Any], (1...4).contains(images.count) else {
          return "Record/embed/images must have 1 to 4 elements"
        }
        for (number, image) in images.enumerated() {
          guard let image = image as? [String: Any], image["alt"] is String, image["image"] is [String: Any] else {
            return "Record/embed/images/\(number) must have the properties \"image\" and \"alt\""
          }
        }
      }
    }
    return nil
  }

  // MARK: - Tokens

  struct TokenFailure: Error {
    var response: HTTPResponse
  }

  /// Verifies the bearer JWT's signature, type, and expiry; returns its claims.
  private func verify(_ request: HTTPRequest, typ expectedType: String) -> Result<[String: Any], TokenFailure> {
    // As the reference PDS: anything but `Bearer <token>` counts as no credentials at all.
    guard let token = SandboxHTTP.bearerToken(request) else {
      return .failure(TokenFailure(response: Self.error(401, "AuthMissing", "Authentication Required")))
    }
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
      let signature = Base64URL.decode(parts[2]),
      let valid = try? HMAC.isValid(signature, for: Array("\(parts[0]).\(parts[1])".utf8), key: secret, using: .sha256),
      valid, let header = SandboxHTTP.jsonObject(headerBytes), let claims = SandboxHTTP.jsonObject(payloadBytes),
      let type = header["typ"] as? String, let exp = claims["exp"] as? Int
    else {
      return .failure(TokenFailure(response: Self.error(400, "InvalidToken", "Token could not be verified")))
    }
    guard type == expectedType else {
      return .failure(TokenFailure(response: Self.error(400, "InvalidToken", "Bad token scope")))
    }
    guard clock.unixSeconds < exp else {
      return .failure(TokenFailure(response: Self.error(400, "ExpiredToken", "Token has expired")))
    }
    return .success(claims)
  }

  /// The account behind a valid, unexpired, unrevoked access JWT.
  private func authenticatedAccount(_ request: HTTPRequest) -> Result<Account, TokenFailure> {
    let claims: [String: Any]
    switch verify(request, typ: "at+jwt") {
    case .success(let verified): claims = verified
    case .failure(let failure): return .failure(failure)
    }
    let token = SandboxHTTP.bearerToken(request) ?? ""
    return state.withLock { state -> Result<Account, TokenFailure> in
      guard let record = state.access[token], let account = state.accounts[record.did],
        claims["sub"] as? String == record.did
      else { return .failure(TokenFailure(response: Self.error(400, "InvalidToken", "Token could not be verified"))) }
      if record.revoked {
        return .failure(TokenFailure(response: Self.error(400, "InvalidToken", "Token has been revoked")))
      }
      if record.expired {
        return .failure(TokenFailure(response: Self.error(400, "ExpiredToken", "Token has expired")))
      }
      return .success(account)
    }
  }

  private func issue(_ state: inout State, did: String, family: Int, now: Int, appPassword: Bool) -> SessionTokens {
    let audience = "did:web:\(state.serviceHost)"
    let access = sign(
      typ: "at+jwt",
      claims: [
        "scope": appPassword ? "com.atproto.appPass" : "com.atproto.access", "sub": did, "aud": audience,
        "iat": now, "exp": now + Self.accessLifetime,
      ])
    let jti = Base64URL.encode(SecureRandom.bytes(24))
    let refresh = sign(
      typ: "refresh+jwt",
      claims: [
        "scope": "com.atproto.refresh", "sub": did, "aud": audience, "jti": jti, "iat": now,
        "exp": now + Self.refreshLifetime,
      ])
    Self.prune(&state, now: now)
    state.access[access] = AccessRecord(did: did, exp: now + Self.accessLifetime)
    state.refresh[jti] = RefreshRecord(
      did: did, family: family, exp: now + Self.refreshLifetime, appPassword: appPassword)
    return SessionTokens(accessJwt: access, refreshJwt: refresh)
  }

  /// Tokens kept before expired ones are forgotten (a long-running sandbox stays bounded).
  static let pruneThreshold = 20_000

  private static func prune(_ state: inout State, now: Int) {
    if state.access.count > pruneThreshold { state.access = state.access.filter { $0.value.exp > now } }
    if state.refresh.count > pruneThreshold { state.refresh = state.refresh.filter { $0.value.exp > now } }
  }

  private func sign(typ: String, claims: [String: Any]) -> String {
    let header = Base64URL.encode(Array("{\"typ\":\"\(typ)\",\"alg\":\"HS256\"}".utf8))
    let payload = Base64URL.encode(SandboxHTTP.encode(claims))
    let input = "\(header).\(payload)"
    let signature = (try? HMAC.sha256(key: secret, message: Array(input.utf8))) ?? []
    return "\(input).\(Base64URL.encode(signature))"
  }

  // MARK: - Helpers

  private static func sessionResponse(_ account: Account, _ tokens: SessionTokens, headers: HTTPFields = HTTPFields())
    -> HTTPResponse
  {
    SandboxHTTP.json(
      200,
      [
        "accessJwt": tokens.accessJwt, "refreshJwt": tokens.refreshJwt, "handle": account.handle, "did": account.did,
        "active": true, "emailConfirmed": true, "emailAuthFactor": account.requiresAuthFactor,
      ], headers: headers)
  }

  static func error(_ status: Int, _ name: String, _ message: String, headers: HTTPFields = HTTPFields()) -> HTTPResponse {
    SandboxHTTP.json(status, ["error": name, "message": message], headers: headers)
  }

  /// Lowercased, without a leading `@` (DIDs keep their case).
  static func normalizeHandle(_ identifier: String) -> String {
    let trimmed = identifier.trimmingCharacters(in: .whitespaces)
    if trimmed.hasPrefix("did:") { return trimmed }
    return (trimmed.hasPrefix("@") ? String(trimmed.dropFirst()) : trimmed).lowercased()
  }

  static func did(forHandle handle: String) -> String {
    "did:plc:" + String(Base32.encode(Digest.sha256(Array(handle.utf8))).prefix(24))
  }

  /// `xxxx-xxxx-xxxx-xxxx` of lowercase letters and digits.
  static func isAppPassword(_ password: String) -> Bool {
    let groups = password.split(separator: "-", omittingEmptySubsequences: false)
    return groups.count == 4
      && groups.allSatisfy { $0.count == 4 && $0.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) } }
  }

  /// A CIDv1 (dag-cbor, sha2-256) in base32: always starts with `bafyrei`.
  static func cid(_ bytes: [UInt8]) -> String {
    "b" + Base32.encode([0x01, 0x71, 0x12, 0x20] + Digest.sha256(bytes))
  }

  /// A record key TID: 13 characters of base32-sortable from microseconds and a clock id 0.
  static func tid(micros: UInt64) -> String {
    let alphabet = Array("234567abcdefghijklmnopqrstuvwxyz")
    var value = (micros & 0x1F_FFFF_FFFF_FFFF) << 10
    var characters: [Character] = []
    for _ in 0..<13 {
      characters.append(alphabet[Int(value & 31)])
      value >>= 5
    }
    return String(characters.reversed())
  }
}
