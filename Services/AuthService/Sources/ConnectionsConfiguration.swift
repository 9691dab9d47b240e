import Foundation
import HayonPlatforms

/// How auth-service connects accounts. The executable fills it from the environment.
public struct ConnectionsConfiguration: Sendable {
  /// Where Bluesky sign-ins go (`BLUESKY_PDS_URL`, default `https://bsky.social`). An account
  /// whose DID document names its own PDS is then called there, if the host policy allows it.
  public var blueskyServiceURL: URL
  /// The instance used when a user names none (`MASTODON_INSTANCE_URL`).
  public var mastodonDefaultInstance: URL
  /// The gateway's callback, registered with every instance and sent in every authorize request.
  public var mastodonRedirectURI: String
  /// The app name people see on the instance's consent page and under their posts.
  public var mastodonClientName: String
  public var mastodonWebsite: String?
  /// Which user-supplied hosts may be called (https and public addresses, or listed).
  public var hostPolicy: HostPolicy
  /// A Bluesky access token expiring sooner than this is refreshed before it is leased.
  public var refreshMargin: TimeInterval
  /// How long publish-service may use a leased credential.
  public var leaseDuration: TimeInterval
  /// A credential refreshed this recently is not refreshed again when a caller reports it
  /// rejected: the report raced the refresh, and the new token is the answer.
  public var recentRefreshWindow: TimeInterval

  public init(
    blueskyServiceURL: URL = URL(string: "https://bsky.social")!,
    mastodonDefaultInstance: URL = URL(string: "https://mastodon.social")!,
    mastodonRedirectURI: String = "http://127.0.0.1:8080/api/platform/mastodon/callback",
    mastodonClientName: String = "Hayon", mastodonWebsite: String? = nil, hostPolicy: HostPolicy = HostPolicy(),
    refreshMargin: TimeInterval = 300, leaseDuration: TimeInterval = 600, recentRefreshWindow: TimeInterval = 30
  ) {
    self.blueskyServiceURL = blueskyServiceURL
    self.mastodonDefaultInstance = mastodonDefaultInstance
    self.mastodonRedirectURI = mastodonRedirectURI
    self.mastodonClientName = mastodonClientName
    self.mastodonWebsite = mastodonWebsite
    self.hostPolicy = hostPolicy
    self.refreshMargin = refreshMargin
    self.leaseDuration = leaseDuration
    self.recentRefreshWindow = recentRefreshWindow
  }
}
