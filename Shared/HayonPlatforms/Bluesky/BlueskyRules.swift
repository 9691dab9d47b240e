public import Foundation

/// Checks made before any Bluesky call, so a typo never spends one of the account's limited
/// sign-ins (createSession is capped per identifier and per day).
public enum BlueskyRules {
  public static let maximumIdentifierLength = 256

  public enum IdentifierProblem: Error, Sendable, Hashable, CustomStringConvertible {
    case empty
    case tooLong
    case invalid

    public var description: String {
      switch self {
      case .empty: "is empty"
      case .tooLong: "is longer than \(BlueskyRules.maximumIdentifierLength) characters"
      case .invalid: "must be a handle (alice.bsky.social), a DID (did:plc:...) or an email address"
      }
    }
  }

  /// Trims surrounding space, drops one leading `@`, lowercases handles (they are
  /// case-insensitive); DIDs and emails keep their case apart from the domain rules.
  public static func normaliseIdentifier(_ input: String) throws(IdentifierProblem) -> String {
    var text = Substring(input.trimmingCharacters(in: .whitespacesAndNewlines))
    if text.hasPrefix("@") { text = text.dropFirst() }
    guard !text.isEmpty else { throw .empty }
    guard text.utf8.count <= maximumIdentifierLength else { throw .tooLong }
    guard text.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value != 0x7F }) else { throw .invalid }
    if text.hasPrefix("did:") {
      let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
      guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty,
        parts[1].allSatisfy({ $0.isLowercase && $0.isLetter })
      else { throw .invalid }
      return String(text)
    }
    if text.contains("@") {
      let parts = text.split(separator: "@", omittingEmptySubsequences: false)
      guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), isHandle(parts[1].lowercased()) else { throw .invalid }
      return "\(parts[0])@\(parts[1].lowercased())"
    }
    let handle = text.lowercased()
    guard isHandle(handle) else { throw .invalid }
    return handle
  }

  /// The atproto handle syntax: dot-separated labels of `[a-z0-9-]`, 1–63 each, not starting or
  /// ending with `-`, at least two labels, the last not starting with a digit.
  public static func isHandle(_ text: String) -> Bool {
    let labels = text.split(separator: ".", omittingEmptySubsequences: false)
    guard labels.count >= 2, text.utf8.count <= 253 else { return false }
    for label in labels {
      guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-",
        label.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D })
      else { return false }
    }
    if let top = labels.last?.first, top.isNumber { return false }
    return true
  }

  /// App passwords are four groups of four lowercase letters or digits: `abcd-efgh-ijkl-mnop`.
  /// Trims surrounding space; anything else (an account's main password included) is refused.
  public static func isAppPasswordShape(_ input: String) -> Bool {
    let text = input.trimmingCharacters(in: .whitespaces)
    let groups = text.split(separator: "-", omittingEmptySubsequences: false)
    guard groups.count == 4 else { return false }
    return groups.allSatisfy { group in
      group.utf8.count == 4 && group.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
    }
  }

  /// The `exp` claim of a JWT, read without verifying it (we are not its audience; we only want
  /// to know when to refresh). Nil when the token is not a readable JWT.
  public static func expiry(ofJWT token: String) -> Date? {
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[1].utf8.count <= 8192 else { return nil }
    var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.utf8.count % 4 != 0 { base64 += "=" }
    guard let data = Data(base64Encoded: base64),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
      let exp = object["exp"] as? NSNumber
    else { return nil }
    let seconds = exp.doubleValue
    guard seconds.isFinite, seconds > 0, seconds < 32_503_680_000 else { return nil }
    return Date(timeIntervalSince1970: seconds)
  }
}
