import Foundation
import HayonCrypto
import HayonPlatforms

/// Mastodon instances' `max_characters`, fetched from `/api/v2/instance` and cached; 500 when
/// the instance does not say or cannot be reached (then cached briefly, to ask again soon).
actor InstanceLimits {
  private let client: MastodonClient
  private let policy: HostPolicy
  private let ttl: TimeInterval
  private let clock: any WallClock
  private var cache: [String: (maximum: Int?, until: Date)] = [:]

  init(client: MastodonClient, policy: HostPolicy, ttl: TimeInterval, clock: any WallClock) {
    self.client = client
    self.policy = policy
    self.ttl = ttl
    self.clock = clock
  }

  func maximum(instanceUrl: String?) async -> Int {
    guard let instanceUrl, let origin = try? policy.check(instanceUrl) else { return MastodonTextRule.defaultMaximum }
    let key = origin.absoluteString
    if let entry = cache[key], entry.until > clock.now { return entry.maximum ?? MastodonTextRule.defaultMaximum }
    let value = try? await client.maxCharacters(instance: origin)
    let fetched = value ?? nil
    cache[key] = (fetched, clock.now.addingTimeInterval(fetched == nil ? 60 : ttl))
    return fetched ?? MastodonTextRule.defaultMaximum
  }
}
