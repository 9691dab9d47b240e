import HayonModel
import Foundation

/// Failed logins for one email, stored in `UsersStore.loginThrottle` so the count survives a
/// restart and is shared by every replica on the same database.
struct LoginThrottleRecord: Codable, Sendable, Hashable {
  /// Attempts counted in the current window.
  var failures: Int
  var windowStartedAt: Date
  var lockedUntil: Date?
  /// When this record stops mattering (window over and lock lifted); `purgeExpired` removes it.
  var expiresAt: Date
}

/// The throttling rule as pure decisions over a record; the service does the reading and writing.
///
/// An attempt is counted *before* its password is checked, in the same transaction that looks
/// at the lock, so concurrent guesses cannot slip past the limit while their hashes run; a
/// successful login then deletes the record.
enum LoginThrottle {
  enum Decision: Sendable, Hashable {
    /// Go ahead and check the password; write `record` first.
    case attempt(record: LoginThrottleRecord)
    /// Refuse without checking the password.
    case locked(until: Date)
  }

  static func decide(_ record: LoginThrottleRecord?, at now: Date, policy: LoginThrottlePolicy) -> Decision {
    if let lockedUntil = record?.lockedUntil, now < lockedUntil { return .locked(until: lockedUntil) }
    var next: LoginThrottleRecord
    if let record, record.lockedUntil == nil, now < record.windowStartedAt.addingTimeInterval(policy.window.timeInterval) {
      next = record
      next.failures += 1
    } else {
      // No record, the window has passed, or a lock has just run out: start counting afresh.
      next = LoginThrottleRecord(
        failures: 1, windowStartedAt: now, lockedUntil: nil,
        expiresAt: now.addingTimeInterval(policy.window.timeInterval))
    }
    if next.failures >= policy.maximumFailures {
      // This attempt is the last one allowed; if it fails too, the lock stands.
      let until = now.addingTimeInterval(policy.lockout.timeInterval)
      next.lockedUntil = until
      next.expiresAt = max(next.expiresAt, until)
    }
    return .attempt(record: next)
  }
}
