import Foundation
import HayonCrypto
import HayonModel
import Testing

@testable import HayonPlatforms

@Suite("Bluesky identifier and app password rules")
struct BlueskyRulesTests {
  @Test(arguments: [
    ("alice.bsky.social", "alice.bsky.social"),
    ("  @Alice.BSKY.social \n", "alice.bsky.social"),
    ("@alice.example.com", "alice.example.com"),
    ("did:plc:z72i7hdynmk6r22z27h6tvur", "did:plc:z72i7hdynmk6r22z27h6tvur"),
    ("did:web:Example.com", "did:web:Example.com"),
    ("Alice@Example.COM", "Alice@example.com"),
  ])
  func identifiersAreNormalised(input: String, expected: String) throws {
    #expect(try BlueskyRules.normaliseIdentifier(input) == expected)
  }

  @Test(arguments: [
    ("", BlueskyRules.IdentifierProblem.empty),
    ("   ", .empty),
    ("@", .empty),
    ("@@alice.bsky.social", .invalid),
    ("alice", .invalid),
    ("alice bsky.social", .invalid),
    ("-alice.bsky.social", .invalid),
    ("alice.bsky.123", .invalid),
    ("did:plc", .invalid),
    ("did:PLC:abc", .invalid),
    ("ali\u{0}ce.bsky.social", .invalid),
    ("álice.bsky.social", .invalid),
    ("a@b@c.com", .invalid),
    (String(repeating: "a", count: 250) + ".social", .tooLong),
  ])
  func badIdentifiersAreRefused(input: String, problem: BlueskyRules.IdentifierProblem) {
    #expect(throws: problem) { try BlueskyRules.normaliseIdentifier(input) }
  }

  @Test func appPasswordShape() {
    #expect(BlueskyRules.isAppPasswordShape("abcd-efgh-ijkl-mnop"))
    #expect(BlueskyRules.isAppPasswordShape("ab12-3f4g-0000-zzzz"))
    #expect(BlueskyRules.isAppPasswordShape(" abcd-efgh-ijkl-mnop "))
    #expect(!BlueskyRules.isAppPasswordShape("ABCD-efgh-ijkl-mnop"))
    #expect(!BlueskyRules.isAppPasswordShape("abcd-efgh-ijkl"))
    #expect(!BlueskyRules.isAppPasswordShape("abcd-efgh-ijkl-mnop-qrst"))
    #expect(!BlueskyRules.isAppPasswordShape("abcdefghijklmnop"))
    #expect(!BlueskyRules.isAppPasswordShape("abcd-efgh-ijkl-mno!"))
    #expect(!BlueskyRules.isAppPasswordShape("correct horse battery staple"))
    #expect(!BlueskyRules.isAppPasswordShape(""))
  }

  @Test func jwtExpiryIsRead() {
    let header = Base64URL.encode(Array(#"{"typ":"at+jwt","alg":"HS256"}"#.utf8))
    let payload = Base64URL.encode(Array(#"{"sub":"did:plc:x","exp":1767277200,"scope":"com.atproto.appPass"}"#.utf8))
    #expect(BlueskyRules.expiry(ofJWT: "\(header).\(payload).sig") == Date(timeIntervalSince1970: 1_767_277_200))
    #expect(BlueskyRules.expiry(ofJWT: "not-a-jwt") == nil)
    #expect(BlueskyRules.expiry(ofJWT: "\(header).\(Base64URL.encode(Array(#"{"sub":"x"}"#.utf8))).sig") == nil)
    #expect(BlueskyRules.expiry(ofJWT: "\(header).%%%.sig") == nil)
    #expect(BlueskyRules.expiry(ofJWT: "\(header).\(Base64URL.encode(Array(#"{"exp":-5}"#.utf8))).sig") == nil)
  }
}

@Suite("Platform error classification")
struct ClassificationTests {
  let now = Date(timeIntervalSince1970: 1_767_268_800)

  func response(_ status: Int, _ body: String, _ headers: [String: String] = [:]) -> PlatformHTTPResponse {
    PlatformHTTPResponse(status: status, headers: headers, body: Data(body.utf8))
  }

  @Test func blueskyBranchesOnTheErrorNameNotTheStatus() {
    let expired = response(400, #"{"error":"ExpiredToken","message":"Token has expired"}"#)
    #expect(BlueskyErrors.classify(expired, token: .access, now: now).classification == .accessExpired)
    #expect(BlueskyErrors.classify(expired, token: .refresh, now: now).classification == .reconnect(.expired))
    let revoked = response(400, #"{"error":"ExpiredToken","message":"Token has been revoked"}"#)
    #expect(BlueskyErrors.classify(revoked, token: .refresh, now: now).classification == .reconnect(.revoked))
    let invalid = response(400, #"{"error":"InvalidToken","message":"Token could not be verified"}"#)
    #expect(BlueskyErrors.classify(invalid, token: .access, now: now).classification == .reconnect(.revoked))
    let validation = response(400, #"{"error":"InvalidRequest","message":"Invalid app.bsky.feed.post record"}"#)
    #expect(BlueskyErrors.classify(validation, token: .access, now: now).classification == .rejected)
    let wrongPassword = response(401, #"{"error":"AuthenticationRequired","message":"Invalid identifier or password"}"#)
    let error = BlueskyErrors.classify(wrongPassword, token: .none, now: now)
    #expect(error.classification == .rejected)
    #expect(error.name == "AuthenticationRequired")
    #expect(error.summary == "HTTP 401 AuthenticationRequired: Invalid identifier or password")
  }

  @Test func blueskyRateLimitReadsTheResetHeader() {
    let limited = response(429, #"{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}"#, ["RateLimit-Reset": "1767269100"])
    #expect(BlueskyErrors.classify(limited, token: .none, now: now).classification == .rateLimited(until: Date(timeIntervalSince1970: 1_767_269_100)))
    let retryAfter = response(429, "", ["Retry-After": "30"])
    #expect(BlueskyErrors.classify(retryAfter, token: .none, now: now).classification == .rateLimited(until: now.addingTimeInterval(30)))
    #expect(BlueskyErrors.classify(response(429, "not json"), token: .none, now: now).classification == .rateLimited(until: nil))
  }

  @Test func blueskyServerErrorsAreTransient() {
    #expect(BlueskyErrors.classify(response(502, "<html>bad gateway</html>"), token: .access, now: now).classification == .transient)
    #expect(BlueskyErrors.classify(response(500, #"{"error":"InternalServerError"}"#), token: .access, now: now).classification == .transient)
  }

  @Test func mastodonTokenFailures() {
    let revoked = response(
      401, #"{"error":"The access token was revoked"}"#,
      ["WWW-Authenticate": #"Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token was revoked""#])
    let error = MastodonErrors.classify(revoked, usedToken: true, now: now)
    #expect(error.classification == .reconnect(.revoked))
    #expect(error.name == "invalid_token")
    let expired = response(401, #"{"error":"The access token expired"}"#)
    #expect(MastodonErrors.classify(expired, usedToken: true, now: now).classification == .reconnect(.expired))
  }

  @Test func mastodonOAuthAndValidationErrors() {
    let grant = response(400, #"{"error":"invalid_grant","error_description":"The provided authorization grant is invalid"}"#)
    let error = MastodonErrors.classify(grant, usedToken: false, now: now)
    #expect(error.classification == .rejected)
    #expect(error.name == "invalid_grant")
    let client = response(401, #"{"error":"invalid_client","error_description":"Client authentication failed"}"#)
    #expect(MastodonErrors.classify(client, usedToken: false, now: now).name == "invalid_client")
    let long = response(422, #"{"error":"Validation failed: Text character limit of 500 exceeded"}"#)
    let validation = MastodonErrors.classify(long, usedToken: true, now: now)
    #expect(validation.classification == .rejected)
    #expect(validation.name == nil)
    #expect(validation.message == "Validation failed: Text character limit of 500 exceeded")
  }

  @Test func mastodonRateLimitReadsTheISOReset() {
    let limited = response(429, #"{"error":"Too many requests"}"#, ["X-RateLimit-Reset": "2026-01-01T12:05:00.000000Z"])
    let expected = ISO8601DateFormatter().date(from: "2026-01-01T12:05:00Z")
    #expect(MastodonErrors.classify(limited, usedToken: true, now: now).classification == .rateLimited(until: expected))
    #expect(MastodonErrors.classify(response(503, ""), usedToken: true, now: now).classification == .transient)
  }

  @Test func transportFailuresSayWhetherTheRequestMayHaveArrived() {
    #expect(PlatformError(platform: .mastodon, transport: .notSent("refused"), requestWasIdempotent: false).classification == .transient)
    #expect(PlatformError(platform: .mastodon, transport: .noResponse("reset"), requestWasIdempotent: false).classification == .unknownOutcome)
    #expect(PlatformError(platform: .mastodon, transport: .noResponse("reset"), requestWasIdempotent: true).classification == .transient)
  }

  @Test func messagesAreBoundedAndFlattened() {
    let body = #"{"error":"InvalidRequest","message":"line one\nline two"# + String(repeating: "x", count: 500) + #""}"#
    let error = BlueskyErrors.classify(response(400, body), token: .access, now: now)
    #expect(error.message?.count == PlatformError.messageLimit)
    #expect(error.message?.contains("\n") == false)
    #expect(error.message?.hasSuffix("…") == true)
  }
}
