import Foundation
import HayonCrypto
import HayonPlatforms
import HayonRuntime

/// Mastodon instances' `max_characters`, fetched from `/api/v2/instance` and cached; 500 when
/// the instance does not say or cannot be reached (then cached briefly, to ask again soon).
actor InstanceLimits {
  private let client: MastodonClient
  private let policy: HostPolicy
  private let ttl: TimeInterval
  private let clock: any WallClock
  private var cache: [String: (maximum: Int?, until: Date)] = [:]
  /// Posts arriving together for one instance share one fetch.
  private let fetches = SingleFlight<Int?>()

  init(client: MastodonClient, policy: HostPolicy, ttl: TimeInterval, clock: any WallClock) {
    self.client = client
    self.policy = policy
    self.ttl = ttl
    self.clock = clock
  }

  func maximum(instanceUrl: String?) async -> Int {
    // Normalising is cheap; the host policy resolves the name, so it runs only on a cache miss.
    guard let instanceUrl, let origin = try? HostPolicy.normaliseOrigin(instanceUrl) else { return MastodonTextRule.defaultMaximum }
    let key = origin.absoluteString
    if let entry = cache[key], entry.until > clock.now { return entry.maximum ?? MastodonTextRule.defaultMaximum }
    let (client, policy) = (self.client, self.policy)
    let fetched = (try? await fetches.run(key) { () async throws -> Int? in
      try policy.check(origin: origin)
      return try await client.maxCharacters(instance: origin)
    }) ?? nil
    cache[key] = (fetched, clock.now.addingTimeInterval(fetched == nil ? 60 : ttl))
    return fetched ?? MastodonTextRule.defaultMaximum
  }
}
