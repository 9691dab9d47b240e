import Foundation

/// A UTC instant as messages and documents carry it: ISO 8601 text in UTC with milliseconds,
/// `"2026-12-04T05:00:00.123Z"`. Held as whole milliseconds since 1970, so encoding and decoding
/// round-trip exactly and two timestamps compare as their instants do.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
  public let millisecondsSince1970: Int64

  public init(millisecondsSince1970: Int64) { self.millisecondsSince1970 = millisecondsSince1970 }

  /// `date` to the nearest millisecond (nearest, not down: a parsed `.123` may be held as
  /// 0.12299999… seconds).
  public init(_ date: Date) {
    millisecondsSince1970 = Int64((date.timeIntervalSince1970 * 1000).rounded())
  }

  /// Parses ISO 8601 with an explicit offset (`Z` or `±hh:mm`), with or without fractional
  /// seconds. Text without an offset is refused: it names no instant.
  public init?(iso8601 text: String) {
    guard let date = try? InstantParser.parse(text) else { return nil }
    self.init(date)
  }

  public var date: Date { Date(timeIntervalSince1970: Double(millisecondsSince1970) / 1000) }

  public var iso8601: String {
    // Whole seconds through Foundation, milliseconds from the integer: formatting a fractional
    // Double could print .122 for .123.
    let (seconds, milliseconds) = millisecondsSince1970.quotientAndRemainder(dividingBy: 1000)
    let (wholeSeconds, fraction) = milliseconds < 0 ? (seconds - 1, milliseconds + 1000) : (seconds, milliseconds)
    let text = Date(timeIntervalSince1970: Double(wholeSeconds)).formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
    let digits = String(fraction)
    return String(text.dropLast()) + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
  }

  public var description: String { iso8601 }

  public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
    lhs.millisecondsSince1970 < rhs.millisecondsSince1970
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    guard let timestamp = Timestamp(iso8601: text) else {
      throw DecodingError.dataCorruptedError(
        in: container, debugDescription: "expected an ISO 8601 time with an offset, such as 2026-12-04T05:00:00.000Z")
    }
    self = timestamp
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(iso8601)
  }
}
