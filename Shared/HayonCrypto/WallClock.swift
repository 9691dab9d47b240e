public import Foundation

/// The source of "now" for expiry checks. Logic takes a clock (or an explicit instant) instead of
/// calling `Date()`, so tests pin time exactly.
public protocol WallClock: Sendable {
  var now: Date { get }
}

/// The real clock. The one place HayonCrypto reads the system time.
public struct SystemWallClock: WallClock {
  public init() {}
  public var now: Date { Date() }
}

/// A clock stopped at one instant, for tests and for replaying a decision.
public struct FixedWallClock: WallClock {
  public var now: Date
  public init(_ now: Date) { self.now = now }
  public init(secondsSince1970: Int64) {
    self.now = Date(timeIntervalSince1970: TimeInterval(secondsSince1970))
  }
}
