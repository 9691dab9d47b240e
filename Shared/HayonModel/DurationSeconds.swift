public import Foundation

extension Duration {
  /// Seconds as a `TimeInterval`, for date arithmetic with `Date`.
  public var timeInterval: TimeInterval {
    let (seconds, attoseconds) = components
    return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
  }
}
