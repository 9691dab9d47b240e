import Foundation
import Synchronization

/// The sandbox's notion of "now". Every time-based rule (token lifetimes, rate-limit windows,
/// authorization-code expiry, idempotency windows) reads this clock, never the wall clock, so
/// tests move time explicitly instead of sleeping.
public final class SandboxClock: Sendable {
  /// 2026-01-01T12:00:00Z.
  public static let defaultStart = Date(timeIntervalSince1970: 1_767_268_800)

  private let current: Mutex<Date>

  public init(start: Date = SandboxClock.defaultStart) {
    current = Mutex(start)
  }

  public var now: Date { current.withLock { $0 } }

  /// Whole seconds since the Unix epoch (JWT `iat`/`exp`, `RateLimit-Reset`, `created_at`).
  public var unixSeconds: Int { Int(now.timeIntervalSince1970.rounded(.down)) }

  public func advance(by seconds: TimeInterval) {
    current.withLock { $0 = $0.addingTimeInterval(seconds) }
  }

  public func set(_ date: Date) {
    current.withLock { $0 = date }
  }
}
