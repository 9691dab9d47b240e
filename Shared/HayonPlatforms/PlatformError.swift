public import Foundation
public import HayonModel

/// What a platform's refusal means for whoever made the call. Every platform's errors are sorted
/// into these on structured fields (HTTP status plus the platform's error name or code), never on
/// message wording, in one classifier per platform (`BlueskyErrors`, `MastodonErrors`).
public enum PlatformErrorClass: Sendable, Hashable, CustomStringConvertible {
  /// The access token expired but the session can be refreshed (Bluesky `ExpiredToken` on an
  /// access JWT). Refresh once and retry.
  case accessExpired
  /// The credential is gone: revoked, invalid, or a refresh that cannot work. The user must
  /// connect the account again.
  case reconnect(ReconnectReason)
  /// Worth retrying later: 5xx, or the platform is briefly unable.
  case transient
  /// Throttled; try again after `until` when the platform said.
  case rateLimited(until: Date?)
  /// The platform understood and refused (validation, wrong password, forbidden): retrying the
  /// same request will not help.
  case rejected
  /// The request may have taken effect without an answer. Never retried automatically.
  case unknownOutcome

  public enum ReconnectReason: String, Sendable, Hashable {
    case expired
    case revoked
  }

  public var description: String {
    switch self {
    case .accessExpired: "access token expired"
    case .reconnect(let reason): "needs reconnection (\(reason.rawValue))"
    case .transient: "transient"
    case .rateLimited(let until): until.map { "rate limited until \($0)" } ?? "rate limited"
    case .rejected: "rejected"
    case .unknownOutcome: "unknown outcome"
    }
  }
}

/// A platform call that did not succeed. `summary` is safe to log and to show: it is built from
/// the status and the platform's error name plus at most a bounded, sanitised message, and never
/// contains a request's credentials.
public struct PlatformError: Error, Sendable, Hashable, CustomStringConvertible {
  public var platform: Platform
  public var classification: PlatformErrorClass
  /// HTTP status, when there was a response.
  public var status: Int?
  /// The platform's machine-readable error (`ExpiredToken`, `invalid_grant`, ...).
  public var name: String?
  /// The platform's own message, sanitised and at most `messageLimit` characters.
  public var message: String?

  public static let messageLimit = 200

  public init(platform: Platform, classification: PlatformErrorClass, status: Int?, name: String?, message: String?) {
    self.platform = platform
    self.classification = classification
    self.status = status
    self.name = name.map { Self.sanitised($0, limit: 64) }
    self.message = message.map { Self.sanitised($0, limit: Self.messageLimit) }
  }

  /// A transport failure as a platform error.
  public init(platform: Platform, transport: PlatformTransportError, requestWasIdempotent: Bool) {
    let classification: PlatformErrorClass
    switch transport {
    case .notSent: classification = .transient
    case .noResponse: classification = requestWasIdempotent ? .transient : .unknownOutcome
    case .responseTooLarge: classification = .rejected
    }
    self.init(platform: platform, classification: classification, status: nil, name: nil, message: transport.description)
  }

  /// `HTTP 400 ExpiredToken: Token has expired`, or the transport problem.
  public var summary: String {
    var parts: [String] = []
    if let status { parts.append("HTTP \(status)") }
    if let name { parts.append(name) }
    var text = parts.joined(separator: " ")
    if let message, !message.isEmpty { text += text.isEmpty ? message : ": \(message)" }
    return text.isEmpty ? "no details" : text
  }

  public var description: String { "\(platform.displayName) \(classification): \(summary)" }

  /// Control characters become spaces; long text is cut with an ellipsis.
  static func sanitised(_ text: String, limit: Int) -> String {
    let flat = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
      .trimmingCharacters(in: .whitespaces)
    guard flat.count > limit else { return flat }
    return String(flat.prefix(limit - 1)) + "…"
  }
}

/// Reading rate-limit announcements, shared by the platform classifiers.
enum RateLimitHeaders {
  /// `Retry-After` as seconds or an HTTP date.
  static func retryAfter(_ response: PlatformHTTPResponse, now: Date) -> Date? {
    guard let value = response.header("retry-after")?.trimmingCharacters(in: .whitespaces) else { return nil }
    if let seconds = Int(value), seconds >= 0, seconds < 86_400 * 7 { return now.addingTimeInterval(TimeInterval(seconds)) }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    return formatter.date(from: value)
  }
}
