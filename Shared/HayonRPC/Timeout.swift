/// The `grpc-timeout` header: 1 to 8 ASCII digits and a unit (H, M, S, m, u, n).
public enum GRPCTimeout {
  /// Parses a header value into a duration; nil when malformed.
  public static func parse(_ text: String) -> Duration? {
    let bytes = Array(text.utf8)
    guard bytes.count >= 2, bytes.count <= 9 else { return nil }
    var value: Int64 = 0
    for byte in bytes.dropLast() {
      guard byte >= 0x30 && byte <= 0x39 else { return nil }
      value = value * 10 + Int64(byte - 0x30)
    }
    switch bytes.last! {
    case UInt8(ascii: "H"): return .seconds(value * 3600)
    case UInt8(ascii: "M"): return .seconds(value * 60)
    case UInt8(ascii: "S"): return .seconds(value)
    case UInt8(ascii: "m"): return .milliseconds(value)
    case UInt8(ascii: "u"): return .microseconds(value)
    case UInt8(ascii: "n"): return .nanoseconds(value)
    default: return nil
    }
  }

  /// Encodes with the finest unit whose value fits in 8 digits, rounding up so the peer never
  /// sees a shorter deadline than ours.
  public static func encode(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return "1n" }
    let nanos = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    let limit: Int64 = 99_999_999
    if !nanos.overflow {
      let total = nanos.partialValue + attoseconds / 1_000_000_000 + (attoseconds % 1_000_000_000 > 0 ? 1 : 0)
      let units: [(Int64, String)] = [(1, "n"), (1000, "u"), (1_000_000, "m"), (1_000_000_000, "S")]
      for (divisor, unit) in units {
        let value = (total + divisor - 1) / divisor
        if value <= limit { return "\(value)\(unit)" }
      }
    }
    let minutes = (seconds + 59) / 60
    if minutes <= limit { return "\(minutes)M" }
    return "\(min((seconds + 3599) / 3600, limit))H"
  }
}
