/// The social platforms Hayon connects. The one list every service, contract and route shares:
/// adding a platform starts here. Raw values are the names used on the wire, in documents and
/// in REST paths (`/api/platform/{platform}/...`).
public enum Platform: String, Codable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  case bluesky
  case tumblr
  case facebook
  case instagram
  case threads
  case mastodon

  /// The name people see ("Bluesky", "Facebook Page", ...).
  public var displayName: String {
    switch self {
    case .bluesky: "Bluesky"
    case .tumblr: "Tumblr"
    case .facebook: "Facebook Page"
    case .instagram: "Instagram"
    case .threads: "Threads"
    case .mastodon: "Mastodon"
    }
  }

  public var description: String { rawValue }

  /// The names, comma-separated, for messages.
  public static let knownNames = allCases.map(\.rawValue).joined(separator: ", ")

  /// As the synthesised decoding, with a message a person can act on (the synthesised one reads
  /// "Cannot initialize Platform from invalid String value …" and echoes the value whole).
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    let name = try container.decode(String.self)
    guard let platform = Platform(rawValue: name) else {
      throw DecodingError.dataCorruptedError(
        in: container,
        debugDescription: "unknown platform '\(quotedForMessage(name, limit: 32))'; known: \(Platform.knownNames)")
    }
    self = platform
  }
}
