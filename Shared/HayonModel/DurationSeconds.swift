public import Foundation

extension Duration {
  /// Seconds as a `TimeInterval`, for date arithmetic with `Date`.
  public var timeInterval: TimeInterval {
    let (seconds, attoseconds) = components
    return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
  }
}

extension Duration {
  /// Whole milliseconds (truncated), for logs and millisecond-based bookkeeping.
  public var wholeMilliseconds: Int64 {
    let (seconds, attoseconds) = components
    return seconds * 1000 + attoseconds / 1_000_000_000_000_000
  }
}
