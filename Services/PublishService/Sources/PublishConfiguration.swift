import Foundation
import HayonPlatforms

/// How publish-service schedules and publishes. The executable fills it from the environment;
/// tests shorten the intervals.
public struct PublishConfiguration: Sendable {
  /// How often the scheduler looks for due targets and expired leases.
  public var tickInterval: Duration
  /// How long a claimed target may stay `publishing` before the sweep calls it `unknown`. Must
  /// exceed the longest attempt (a lease, a platform call, a refresh and a second call).
  public var leaseDuration: TimeInterval
  /// An attempt starts a platform call only with at least this much of the lease left.
  public var minimumLeaseLeft: TimeInterval
  public var retry: RetryPolicy
  /// Targets publishing at once, per platform and per account (user + platform).
  public var maximumInFlightPerPlatform: Int
  public var maximumInFlightPerAccount: Int
  /// How often held targets ask account-service whether their account was reconnected.
  public var heldPollInterval: TimeInterval
  /// Which instance hosts may be called for `max_characters` (the sandbox is allow-listed).
  public var hostPolicy: HostPolicy
  /// How long an instance's `max_characters` is trusted.
  public var instanceLimitTTL: TimeInterval
  /// How far ahead a post may be scheduled.
  public var maximumScheduleAhead: TimeInterval
  /// Mastodon statuses' visibility (nil: the account's default).
  public var mastodonVisibility: String?

  public init(
    tickInterval: Duration = .seconds(1), leaseDuration: TimeInterval = 120, minimumLeaseLeft: TimeInterval = 40,
    retry: RetryPolicy = RetryPolicy(), maximumInFlightPerPlatform: Int = 32, maximumInFlightPerAccount: Int = 4,
    heldPollInterval: TimeInterval = 30, hostPolicy: HostPolicy = HostPolicy(), instanceLimitTTL: TimeInterval = 3600,
    maximumScheduleAhead: TimeInterval = 2 * 366 * 86_400, mastodonVisibility: String? = nil
  ) {
    self.tickInterval = tickInterval
    self.leaseDuration = leaseDuration
    self.minimumLeaseLeft = minimumLeaseLeft
    self.retry = retry
    self.maximumInFlightPerPlatform = maximumInFlightPerPlatform
    self.maximumInFlightPerAccount = maximumInFlightPerAccount
    self.heldPollInterval = heldPollInterval
    self.hostPolicy = hostPolicy
    self.instanceLimitTTL = instanceLimitTTL
    self.maximumScheduleAhead = maximumScheduleAhead
    self.mastodonVisibility = mastodonVisibility
  }
}
