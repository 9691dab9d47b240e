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
}
