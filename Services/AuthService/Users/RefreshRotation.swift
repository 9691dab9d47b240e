import Foundation

/// What presenting a refresh token leads to, decided from what the store holds.
enum RefreshDecision: Sendable, Hashable {
  /// Valid: mark it used and issue the next token of the same session.
  case rotate
  /// Already used once: someone replayed it. End the whole session.
  case reuseDetected
  case expired
  /// Unknown, or its session has ended.
  case rejected

  static func decide(token: RefreshTokenRecord?, session: SessionRecord?, now: Date) -> RefreshDecision {
    guard let token, let session, !session.isRevoked else { return .rejected }
    if token.usedAt != nil { return .reuseDetected }
    if now >= token.expiresAt { return .expired }
    return .rotate
  }
}
