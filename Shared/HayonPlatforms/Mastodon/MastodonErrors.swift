public import Foundation
import HayonModel

/// Sorting Mastodon failures (platforms.md §6.7–6.8). Doorkeeper answers any dead token with 401
/// and `WWW-Authenticate: ... error="invalid_token"`; OAuth endpoints use RFC 6749 error names.
public enum MastodonErrors {
  struct Body: Decodable {
    var error: String?
    var error_description: String?
  }

  public static func classify(_ response: PlatformHTTPResponse, usedToken: Bool, now: Date) -> PlatformError {
    let body = try? JSONDecoder().decode(Body.self, from: response.body)
    let authenticate = response.header("www-authenticate") ?? ""
    let name: String?
    var message = body?.error_description ?? body?.error
    let classification: PlatformErrorClass
    switch response.status {
    case 401 where usedToken:
      name = authenticate.contains("invalid_token") ? "invalid_token" : "unauthorized"
      classification = .reconnect(message?.localizedCaseInsensitiveContains("expired") == true ? .expired : .revoked)
    case 401:
      name = body?.error ?? "unauthorized"
      classification = .rejected
    case 429:
      name = "rate_limited"
      classification = .rateLimited(until: rateLimitReset(response, now: now))
    case 500..<600:
      name = nil
      classification = .transient
    default:
      // RFC 6749 names (`invalid_grant`, ...) are codes; Mastodon's other errors are sentences.
      if let error = body?.error, error.allSatisfy({ $0.isLetter || $0 == "_" }), body?.error_description != nil {
        name = error
      } else {
        name = nil
        message = body?.error
      }
      classification = .rejected
    }
    return PlatformError(platform: .mastodon, classification: classification, status: response.status, name: name, message: message)
  }

  /// `X-RateLimit-Reset` is an ISO 8601 instant (with microseconds); `Retry-After` is the fallback.
  static func rateLimitReset(_ response: PlatformHTTPResponse, now: Date) -> Date? {
    if let text = response.header("x-ratelimit-reset") {
      let formatter = ISO8601DateFormatter()
      formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
      if let date = formatter.date(from: text) { return date }
      formatter.formatOptions = [.withInternetDateTime]
      if let date = formatter.date(from: text) { return date }
    }
    return RateLimitHeaders.retryAfter(response, now: now)
  }
}
