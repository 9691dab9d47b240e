import Foundation
import HayonModel
import HayonRPC
import Testing

@testable import PublishService

@Suite("Post input")
struct PostInputTests {
  let now = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

  @Test("scheduledAt: offsets become UTC instants; no offset, past or too far ahead is refused, naming the field")
  func scheduledAt() throws {
    let instant = try PostInput.scheduledAt("2027-07-01T18:30:00+02:00", now: now, maximumAhead: 86_400 * 400)
    #expect(Timestamp(instant).iso8601 == "2027-07-01T16:30:00.000Z")
    #expect(throws: RPCError(.invalidArgument, "scheduledAt the time has no UTC offset; add Z or ±HH:MM, e.g. 2026-12-24T18:30:00+01:00")) {
      try PostInput.scheduledAt("2027-07-01T18:30:00", now: now, maximumAhead: 86_400 * 400)
    }
    #expect(throws: RPCError(.invalidArgument, "scheduledAt is in the past")) {
      try PostInput.scheduledAt("2027-01-15T07:59:59Z", now: now, maximumAhead: 86_400 * 400)
    }
    #expect(throws: RPCError(.invalidArgument, "scheduledAt is more than 10 days ahead")) {
      try PostInput.scheduledAt("2027-07-01T18:30:00Z", now: now, maximumAhead: 86_400 * 10)
    }
  }

  @Test("the local display time carries the zone's offset at that instant (DST included)")
  func localTime() throws {
    let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
    let summer = try InstantParser.parse("2027-07-01T16:30:00Z")
    let winter = try InstantParser.parse("2027-01-01T16:30:00Z")
    #expect(PostInput.localTime(summer, in: berlin) == "2027-07-01T18:30:00+02:00")
    #expect(PostInput.localTime(winter, in: berlin) == "2027-01-01T17:30:00+01:00")
    let kolkata = try #require(TimeZone(identifier: "Asia/Kolkata"))
    #expect(PostInput.localTime(winter, in: kolkata) == "2027-01-01T22:00:00+05:30")
    let newYork = try #require(TimeZone(identifier: "America/New_York"))
    #expect(PostInput.localTime(winter, in: newYork) == "2027-01-01T11:30:00-05:00")
    #expect(try PostInput.timeZone("Europe/Berlin") == berlin)
    #expect(throws: RPCError.self) { try PostInput.timeZone("CEST+2") }
  }

  @Test("overrides: platform names only, for chosen platforms, each a valid text")
  func overrides() {
    #expect(throws: RPCError(.invalidArgument, "overrides has 'myspace', which is not a platform name")) {
      try PostInput.overrides(["myspace": "x"], platforms: [.bluesky])
    }
    #expect(throws: RPCError(.invalidArgument, "overrides.bluesky is empty")) {
      try PostInput.overrides(["bluesky": " "], platforms: [.bluesky])
    }
    #expect(throws: Never.self) { try PostInput.overrides(["bluesky": "ok"], platforms: [.bluesky, .mastodon]) }
  }
}
