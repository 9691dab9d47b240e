import Foundation
import HayonModel
import HayonPublish
import HayonRPC

/// Checks of request fields, each throwing `INVALID_ARGUMENT` that names the field. Nothing is
/// read or written before a request passes.
enum PostInput {
  /// Platforms publish-service can publish to today.
  static let publishable: Set<Platform> = [.bluesky, .mastodon]

  static func userId(_ text: String) throws(RPCError) {
    guard !text.isEmpty else { throw PublishErrors.invalid("userId", "is empty") }
    guard UserID.isValid(text) else { throw PublishErrors.invalid("userId", "must be 1 to \(Posts.Limits.userIdLength) characters of A-Z, a-z, 0-9, _ and -") }
  }

  static func postId(_ text: String) throws(RPCError) {
    guard !text.isEmpty else { throw PublishErrors.invalid("postId", "is empty") }
    guard text.utf8.count <= Posts.Limits.postIdLength, text.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "_") })
    else { throw PublishErrors.invalid("postId", "is not a post id") }
  }

  static func text(_ text: String, field: String = "text") throws(RPCError) {
    guard text.utf8.count <= Posts.Limits.textBytes else {
      throw PublishErrors.invalid(field, "is longer than \(Posts.Limits.textBytes) bytes")
    }
    guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
      throw PublishErrors.invalid(field, "is empty")
    }
    guard !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" && $0 != "\r" || $0.value == 0x7F }) else {
      throw PublishErrors.invalid(field, "contains control characters")
    }
  }

  static func platforms(_ platforms: [Platform]) throws(RPCError) {
    guard !platforms.isEmpty else { throw PublishErrors.invalid("platforms", "is empty: choose at least one platform") }
    guard Set(platforms).count == platforms.count else { throw PublishErrors.invalid("platforms", "names a platform twice") }
    for platform in platforms where !publishable.contains(platform) { throw PublishErrors.notAvailable(platform) }
  }

  /// Keys must be chosen platforms' names; values follow the text rules.
  static func overrides(_ overrides: [String: String], platforms: [Platform]) throws(RPCError) {
    for (key, value) in overrides.sorted(by: { $0.key < $1.key }) {
      guard let platform = Platform(rawValue: key) else {
        throw PublishErrors.invalid("overrides", "has '\(key.prefix(40))', which is not a platform name")
      }
      guard platforms.contains(platform) else {
        throw PublishErrors.invalid("overrides.\(key)", "is for a platform the post does not go to")
      }
      try text(value, field: "overrides.\(key)")
    }
  }

  static func timeZone(_ name: String?) throws(RPCError) -> TimeZone? {
    guard let name else { return nil }
    guard name.utf8.count <= Posts.Limits.timeZoneLength, let zone = TimeZone(identifier: name), name.contains("/") || name == "UTC"
    else { throw PublishErrors.invalid("timeZone", "is not an IANA time zone name like Europe/Berlin") }
    return zone
  }

  /// An instant with an offset, not in the past, not too far ahead.
  static func scheduledAt(_ text: String, now: Date, maximumAhead: TimeInterval) throws(RPCError) -> Date {
    let date: Date
    do {
      date = try InstantParser.parse(text)
    } catch {
      throw PublishErrors.invalid("scheduledAt", error.description)
    }
    guard date >= now else { throw PublishErrors.invalid("scheduledAt", "is in the past") }
    guard date.timeIntervalSince(now) <= maximumAhead else {
      throw PublishErrors.invalid("scheduledAt", "is more than \(Int(maximumAhead / 86_400)) days ahead")
    }
    return date
  }

  static func requestId(_ text: String?) throws(RPCError) {
    guard let text else { return }
    guard !text.isEmpty, text.utf8.count <= Posts.Limits.requestIdLength, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
      throw PublishErrors.invalid("requestId", "must be 1 to \(Posts.Limits.requestIdLength) printable ASCII characters")
    }
  }

  static func pageSize(_ size: Int?) throws(RPCError) -> Int {
    guard let size else { return Posts.Limits.defaultPageSize }
    guard (1...Posts.Limits.maximumPageSize).contains(size) else {
      throw PublishErrors.invalid("pageSize", "must be between 1 and \(Posts.Limits.maximumPageSize)")
    }
    return size
  }

  static func platformFilter(_ platforms: [Platform]?) throws(RPCError) -> Set<Platform>? {
    guard let platforms else { return nil }
    guard !platforms.isEmpty else { throw PublishErrors.invalid("platforms", "is empty; leave it out to mean all") }
    return Set(platforms)
  }

  private static func isAlphanumeric(_ byte: UInt8) -> Bool {
    (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
  }

  /// `date` in `zone` as ISO 8601 with that zone's offset at that instant.
  static func localTime(_ date: Date, in zone: TimeZone) -> String {
    let offset = zone.secondsFromGMT(for: date)
    let local = Date(timeIntervalSince1970: (date.timeIntervalSince1970 + Double(offset)).rounded(.down))
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(secondsFromGMT: 0)!
    let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: local)
    let sign = offset < 0 ? "-" : "+"
    let magnitude = abs(offset)
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let year = String(parts.year ?? 0)
    return "\(String(repeating: "0", count: max(0, 4 - year.count)))\(year)-\(two(parts.month ?? 0))-\(two(parts.day ?? 0))T"
      + "\(two(parts.hour ?? 0)):\(two(parts.minute ?? 0)):\(two(parts.second ?? 0))\(sign)\(two(magnitude / 3600)):\(two(magnitude % 3600 / 60))"
  }
}
