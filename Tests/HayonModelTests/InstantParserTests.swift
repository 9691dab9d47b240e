import Foundation
import Testing

@testable import HayonModel

@Suite("Instants: ISO 8601 with an offset, or refused")
struct InstantParserTests {
  @Test("Offsets, Z and fractions parse to the same UTC instant", arguments: [
    ("2026-12-24T18:30:00+01:00", 1_798_133_400.0),
    ("2026-12-24T17:30:00Z", 1_798_133_400.0),
    ("2026-12-24t17:30:00z", 1_798_133_400.0),
    ("2026-12-24 12:30:00-05:00", 1_798_133_400.0),
    ("2026-12-24T23:00:00+0530", 1_798_133_400.0),
    ("2026-12-24T17:30:00.250Z", 1_798_133_400.25),
    ("2026-12-24T17:30Z", 1_798_133_400.0),
    ("2028-02-29T00:00:00Z", 1_835_395_200.0),
  ])
  func parses(text: String, expected: Double) throws {
    #expect(try InstantParser.parse(text).timeIntervalSince1970 == expected)
  }

  @Test("Refused with the reason", arguments: [
    ("2026-12-24T18:30:00", InstantParser.Failure.missingOffset),
    ("2026-12-24T18:30", .missingOffset),
    ("2026-12-24", .malformed),
    ("24/12/2026 18:30 +01:00", .malformed),
    ("2026-12-24T18:30:00+01", .malformed),
    ("2026-12-24T18:30:00+01:00 trailing", .malformed),
    ("2026-12-24T18:30:00.Z", .malformed),
    ("2026-12-24T18:30:00.1234567890Z", .malformed),
    ("2026-13-01T00:00:00Z", .outOfRange(field: "month")),
    ("2027-02-29T00:00:00Z", .outOfRange(field: "day")),
    ("2026-12-24T24:00:00Z", .outOfRange(field: "hour")),
    ("2026-12-24T23:60:00Z", .outOfRange(field: "minute")),
    ("2026-12-24T23:59:60Z", .outOfRange(field: "second")),
    ("2026-12-24T23:00:00+24:00", .outOfRange(field: "UTC offset")),
    ("", .malformed),
    (String(repeating: "9", count: 41), .malformed),
  ])
  func refuses(text: String, failure: InstantParser.Failure) {
    #expect(throws: failure) { try InstantParser.parse(text) }
  }

  @Test("Civil dates convert without a calendar, across eras and leap years")
  func civilDays() {
    #expect(InstantParser.daysSinceEpoch(year: 1970, month: 1, day: 1) == 0)
    #expect(InstantParser.daysSinceEpoch(year: 2000, month: 3, day: 1) == 11_017)
    #expect(InstantParser.daysSinceEpoch(year: 1969, month: 12, day: 31) == -1)
  }
}

@Suite("Duration in whole milliseconds")
struct DurationMillisecondsTests {
  @Test func truncatesToWholeMilliseconds() {
    #expect(Duration.seconds(2).wholeMilliseconds == 2000)
    #expect(Duration.milliseconds(1999).wholeMilliseconds == 1999)
    #expect((Duration.seconds(1) + .microseconds(999)).wholeMilliseconds == 1000)
    #expect(Duration.zero.wholeMilliseconds == 0)
  }
}
