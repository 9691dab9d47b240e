public import Foundation
import HayonModel

/// Sorting Bluesky (XRPC) failures. Branches on the `error` name first, because the reference PDS
/// answers an expired or revoked token with HTTP 400, not 401 (platforms.md §1.7).
public enum BlueskyErrors {
  /// Which kind of token the failed call presented: an `ExpiredToken` answer means something
  /// different for an access JWT (refresh it) than for a refresh JWT (connect again).
  public enum TokenUse: Sendable {
    case none
    case access
    case refresh
  }

  struct Body: Decodable {
    var error: String?
    var message: String?
  }

  public static func classify(_ response: PlatformHTTPResponse, token: TokenUse, now: Date) -> PlatformError {
    let body = try? JSONDecoder().decode(Body.self, from: response.body)
    let name = body?.error
    let classification: PlatformErrorClass
    switch (response.status, name) {
    case (_, "ExpiredToken"):
      switch token {
      case .access: classification = .accessExpired
      case .refresh, .none:
        classification = .reconnect(body?.message?.localizedCaseInsensitiveContains("revoked") == true ? .revoked : .expired)
      }
    case (_, "InvalidToken"), (_, "AccountTakedown"), (_, "AccountDeactivated"):
      classification = token == .none ? .rejected : .reconnect(.revoked)
    case (401, "AuthMissing"):
      classification = .reconnect(.revoked)
    case (429, _), (_, "RateLimitExceeded"):
      classification = .rateLimited(until: rateLimitReset(response, now: now))
    case (500..<600, _):
      classification = .transient
    default:
      classification = .rejected
    }
    return PlatformError(
      platform: .bluesky, classification: classification, status: response.status, name: name, message: body?.message)
  }

  /// `RateLimit-Reset` is unix seconds; `Retry-After` is the fallback.
  static func rateLimitReset(_ response: PlatformHTTPResponse, now: Date) -> Date? {
    if let text = response.header("ratelimit-reset"), let seconds = Double(text.trimmingCharacters(in: .whitespaces)),
      seconds > 0, seconds < 32_503_680_000
    {
      return Date(timeIntervalSince1970: seconds)
    }
    return RateLimitHeaders.retryAfter(response, now: now)
  }
}
