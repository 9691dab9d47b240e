import HayonAccount
import HayonModel

/// The one table of connection-health transitions: what each health event does to a connected
/// platform's health. Pure: the same event, health and instant always give the same result.
///
/// | event       | status                                  | needsReconnection | consecutiveFailures | lastError  | lastSuccessfulRefresh |
/// |-------------|-----------------------------------------|-------------------|---------------------|------------|-----------------------|
/// | success     | active                                  | false             | 0                   | cleared    | now                   |
/// | authExpired | expired                                 | true              | +1                  | unchanged  | unchanged             |
/// | authRevoked | revoked                                 | true              | +1                  | unchanged  | unchanged             |
/// | error(m)    | error once failures ≥ threshold, except | unchanged         | +1                  | m (bounded)| unchanged             |
/// |             | expired/revoked stay (the credential    |                   |                     |            |                       |
/// |             | problem stands until a success)         |                   |                     |            |                       |
///
/// Every event sets `updatedAt` to now. Only a success (or connecting again) clears
/// `needsReconnection`: a transient error says nothing about whether the credential works.
public struct HealthRules: Sendable, Hashable {
  /// Consecutive failures at which an active connection is reported as `error`.
  public var errorThreshold: Int
  /// Characters of an error message kept in `lastError`.
  public var storedErrorLength: Int

  public init(errorThreshold: Int = 3, storedErrorLength: Int = Accounts.Limits.storedErrorLength) {
    precondition(errorThreshold >= 1 && storedErrorLength >= 1)
    self.errorThreshold = errorThreshold
    self.storedErrorLength = storedErrorLength
  }

  public func apply(
    _ event: Accounts.HealthEvent, to health: Accounts.PlatformHealth, at now: Timestamp
  ) -> Accounts.PlatformHealth {
    var next = health
    next.updatedAt = now
    switch event {
    case .success:
      next.status = .active
      next.needsReconnection = false
      next.consecutiveFailures = 0
      next.lastError = nil
      next.lastSuccessfulRefresh = now
    case .authExpired:
      next.status = .expired
      next.needsReconnection = true
      next.consecutiveFailures = Self.incremented(health.consecutiveFailures)
    case .authRevoked:
      next.status = .revoked
      next.needsReconnection = true
      next.consecutiveFailures = Self.incremented(health.consecutiveFailures)
    case .error(let message):
      next.consecutiveFailures = Self.incremented(health.consecutiveFailures)
      next.lastError = storedError(message)
      switch health.status {
      case .expired, .revoked:
        break
      case .active, .error:
        if next.consecutiveFailures >= errorThreshold { next.status = .error }
      }
    }
    return next
  }

  /// The message as kept: control characters (newlines included) become spaces, surrounding
  /// space is trimmed, and at most `storedErrorLength` characters remain.
  public func storedError(_ message: String) -> String {
    let flattened = String(
      String.UnicodeScalarView(
        message.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    let trimmed = flattened.trimmingSpaces
    guard trimmed.count > storedErrorLength else { return trimmed }
    return String(trimmed.prefix(storedErrorLength - 1)) + "…"
  }

  private static func incremented(_ count: Int) -> Int { count == Int.max ? count : count + 1 }
}

extension String {
  /// Without leading and trailing spaces (Foundation-free, so the rules stay plain Swift).
  var trimmingSpaces: String {
    var view = Substring(self)
    while view.first == " " { view.removeFirst() }
    while view.last == " " { view.removeLast() }
    return String(view)
  }
}
