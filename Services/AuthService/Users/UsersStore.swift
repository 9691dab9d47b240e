import Foundation
import HayonStore

/// The collections the user service keeps in auth-service's database. The executable adds
/// `UsersStore.collections` to its `StoreSchema` beside its other collections.
///
/// Nothing here holds a usable secret: passwords only as scrypt hashes, refresh tokens only as
/// their SHA-256 (the document id), so a copy of the database cannot sign anyone in.
public enum UsersStore {
  /// `UserRecord` by user id.
  public static let users = "users"
  /// `EmailRecord` by normalised email: the one place an email is claimed, so two sign-ups with
  /// the same address cannot both succeed, on any backend.
  public static let userEmails = "user_emails"
  /// `SessionRecord` by session id: one per login, the family its refresh tokens belong to.
  public static let sessions = "user_sessions"
  /// `RefreshTokenRecord` by base64url SHA-256 of the token.
  public static let refreshTokens = "refresh_tokens"
  /// `LoginThrottleRecord` by normalised email.
  public static let loginThrottle = "login_throttle"

  public static let collections: [CollectionSchema] = [
    CollectionSchema(users),
    CollectionSchema(userEmails),
    CollectionSchema(sessions, indexing: [.string("userId"), .date("expiresAt")]),
    CollectionSchema(refreshTokens, indexing: [.string("sessionId"), .date("expiresAt")]),
    CollectionSchema(loginThrottle, indexing: [.date("expiresAt")]),
  ]

  /// A store schema with only these collections (tests, or a deployment running users alone).
  public static var schema: StoreSchema { StoreSchema(collections: collections) }
}

/// A user account.
struct UserRecord: Codable, Sendable, Hashable, CustomStringConvertible {
  var email: String
  /// `scrypt$N$r$p$salt$hash` (see `PasswordHasher`).
  var passwordHash: String
  var createdAt: Date
  var passwordChangedAt: Date
  /// The user's most recent sessions, oldest first, at most `maximumSessionsPerUser`. A session
  /// pushed out of this list is revoked, so one account cannot pile up live sessions without
  /// bound. (Entries may name sessions that have since ended; they simply age out.)
  var recentSessionIds: [String]

  var description: String { "UserRecord(createdAt: \(createdAt), passwordHash: redacted)" }

  /// Adds a new session; returns the ids pushed out by the limit, to be revoked.
  mutating func admitSession(_ sessionId: String, limit: Int) -> [String] {
    recentSessionIds.append(sessionId)
    let excess = recentSessionIds.count - limit
    guard excess > 0 else { return [] }
    let displaced = Array(recentSessionIds.prefix(excess))
    recentSessionIds.removeFirst(excess)
    return displaced
  }
}

/// Claims an email for a user.
struct EmailRecord: Codable, Sendable, Hashable {
  var userId: String
}

/// One login and every refresh token descended from it.
struct SessionRecord: Codable, Sendable, Hashable {
  var userId: String
  var createdAt: Date
  var lastRefreshedAt: Date
  /// When the newest refresh token expires; after that nothing of the session is usable and
  /// `purgeExpired` may remove it.
  var expiresAt: Date
  var revokedAt: Date?
  var revocationReason: RevocationReason?

  enum RevocationReason: String, Codable, Sendable, Hashable {
    case logout
    /// A refresh token was presented after it had been used: the session is compromised.
    case refreshTokenReuse = "refresh-token-reuse"
    /// Newer logins of the same user pushed it out (`maximumSessionsPerUser`).
    case sessionLimit = "session-limit"
  }

  var isRevoked: Bool { revokedAt != nil }
}

/// A refresh token, stored under its hash. Used tokens are kept until they expire, so a replay
/// is recognised as reuse rather than as an unknown token.
struct RefreshTokenRecord: Codable, Sendable, Hashable {
  var sessionId: String
  var userId: String
  var issuedAt: Date
  var expiresAt: Date
  /// Set when the token was traded for a new pair.
  var usedAt: Date?
}
