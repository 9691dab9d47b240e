public import Foundation

/// Parses the instants clients send: ISO 8601 / RFC 3339 date-times that carry their UTC offset
/// (`2026-12-24T18:30:00+01:00`, `2026-12-24T17:30:00Z`, fractions of a second allowed). A time
/// without an offset is refused, never guessed: "18:30" means a different instant in every zone.
public enum InstantParser {
  public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
    case missingOffset
    case malformed
    case outOfRange(field: String)

    public var description: String {
      switch self {
      case .missingOffset: "the time has no UTC offset; add Z or ±HH:MM, e.g. 2026-12-24T18:30:00+01:00"
      case .malformed: "not an ISO 8601 date-time like 2026-12-24T18:30:00+01:00"
      case .outOfRange(let field): "the \(field) is out of range"
      }
    }
  }

  /// Longest accepted input; anything longer is not a date-time.
  static let maxLength = 40

  public static func parse(_ text: String) throws(Failure) -> Date {
    guard text.utf8.count <= maxLength else { throw .malformed }
    var reader = Reader(Array(text.utf8))
    let year = try reader.digits(4)
    try reader.expect(UInt8(ascii: "-"))
    let month = try reader.digits(2)
    try reader.expect(UInt8(ascii: "-"))
    let day = try reader.digits(2)
    guard let separator = reader.next(), separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") || separator == UInt8(ascii: " ")
    else { throw .malformed }
    let hour = try reader.digits(2)
    try reader.expect(UInt8(ascii: ":"))
    let minute = try reader.digits(2)
    var second = 0
    var nanoseconds = 0
    if reader.peek() == UInt8(ascii: ":") {
      _ = reader.next()
      second = try reader.digits(2)
      if reader.peek() == UInt8(ascii: ".") || reader.peek() == UInt8(ascii: ",") {
        _ = reader.next()
        var digitCount = 0
        while let byte = reader.peek(), byte >= 0x30, byte <= 0x39 {
          _ = reader.next()
          digitCount += 1
          guard digitCount <= 9 else { throw .malformed }
          nanoseconds = nanoseconds * 10 + Int(byte - 0x30)
        }
        guard digitCount > 0 else { throw .malformed }
        for _ in digitCount..<9 { nanoseconds *= 10 }
      }
    }
    let offsetSeconds: Int
    switch reader.next() {
    case nil:
      throw .missingOffset
    case UInt8(ascii: "Z"), UInt8(ascii: "z"):
      offsetSeconds = 0
    case let sign? where sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"):
      let offsetHours = try reader.digits(2)
      if reader.peek() == UInt8(ascii: ":") { _ = reader.next() }
      let offsetMinutes = try reader.digits(2)
      guard offsetHours <= 23 else { throw .outOfRange(field: "UTC offset") }
      guard offsetMinutes <= 59 else { throw .outOfRange(field: "UTC offset") }
      offsetSeconds = (sign == UInt8(ascii: "+") ? 1 : -1) * (offsetHours * 3600 + offsetMinutes * 60)
    default:
      throw .malformed
    }
    guard reader.isAtEnd else { throw .malformed }
    guard (1...12).contains(month) else { throw .outOfRange(field: "month") }
    guard (1...daysIn(month: month, year: year)).contains(day) else { throw .outOfRange(field: "day") }
    guard hour <= 23 else { throw .outOfRange(field: "hour") }
    guard minute <= 59 else { throw .outOfRange(field: "minute") }
    guard second <= 59 else { throw .outOfRange(field: "second") }
    let days = daysSinceEpoch(year: year, month: month, day: day)
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
    return Date(timeIntervalSince1970: TimeInterval(seconds) + TimeInterval(nanoseconds) / 1e9)
  }

  /// Days from 1970-01-01 to the given civil date (proleptic Gregorian), without a calendar
  /// object, so parsing never depends on the process's locale or zone.
  static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
    let shiftedYear = month <= 2 ? year - 1 : year
    let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
    let yearOfEra = shiftedYear - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }

  static func daysIn(month: Int, year: Int) -> Int {
    switch month {
    case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
  }

  private struct Reader {
    let bytes: [UInt8]
    var position = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { position == bytes.count }
    func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }
    mutating func next() -> UInt8? {
      defer { position += 1 }
      return peek()
    }
    mutating func expect(_ byte: UInt8) throws(Failure) {
      guard next() == byte else { throw .malformed }
    }
    mutating func digits(_ count: Int) throws(Failure) -> Int {
      var value = 0
      for _ in 0..<count {
        guard let byte = next(), byte >= 0x30, byte <= 0x39 else { throw .malformed }
        value = value * 10 + Int(byte - 0x30)
      }
      return value
    }
  }
}
