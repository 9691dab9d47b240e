import Foundation
import HayonCrypto

/// How the user service behaves. The executable fills it (from the environment) and passes it
/// to `UsersService`; the signing keys travel separately, never inside a configuration value.
public struct UsersConfiguration: Sendable, Hashable {
  /// How long an access token is valid. Short, because it is checked without a database read
  /// and so outlives a logout by at most this much.
  public var accessTokenLifetime: Duration
  /// How long a refresh token is valid; each `Refresh` issues a new one with a fresh lifetime,
  /// so a session used at least this often never ends by itself.
  public var refreshTokenLifetime: Duration
  /// When repeated failed logins for one email are refused outright.
  public var loginThrottle: LoginThrottlePolicy
  /// scrypt cost and limits for new password hashes. The defaults are the strong ones
  /// (N = 2^15, r = 8, p = 1); tests lower them. The password length rule is the contract's
  /// (`Users.Limits`); `maximumPasswordBytes` is raised as needed to admit every password it allows.
  public var passwordHashing: PasswordHasher.Configuration
  /// Password hashes computed at once. Each scrypt run at the default cost takes ~32 MiB and a
  /// core for tens of milliseconds, so this bounds both memory and CPU.
  public var maximumConcurrentPasswordHashes: Int
  /// Password hashes that may wait for a free slot; beyond that `SignUp`/`Login` answer
  /// `UNAVAILABLE` at once instead of queueing without bound.
  public var maximumQueuedPasswordHashes: Int
  /// Live sessions one user may have; a new login beyond it ends the oldest.
  public var maximumSessionsPerUser: Int
  /// User id → email entries kept in memory so `VerifyAccessToken` needs no database read.
  /// Emails never change, so entries never go stale.
  public var emailCacheCapacity: Int

  /// 15-minute access tokens, 30-day refresh tokens, 5 failures in 15 minutes lock an email for
  /// 15 minutes, scrypt N = 2^15 r = 8 p = 1, 2 hashes at once with 64 waiting, 50 sessions per
  /// user, 10 000 cached emails.
  public static var defaults: UsersConfiguration {
    UsersConfiguration(
      accessTokenLifetime: .seconds(15 * 60),
      refreshTokenLifetime: .seconds(30 * 24 * 3600),
      loginThrottle: .defaults,
      passwordHashing: .defaults,
      maximumConcurrentPasswordHashes: 2,
      maximumQueuedPasswordHashes: 64,
      maximumSessionsPerUser: 50,
      emailCacheCapacity: 10_000)
  }

  public static func defaults(configure: (inout UsersConfiguration) -> Void) -> UsersConfiguration {
    var configuration = defaults
    configure(&configuration)
    return configuration
  }

  public init(
    accessTokenLifetime: Duration, refreshTokenLifetime: Duration, loginThrottle: LoginThrottlePolicy,
    passwordHashing: PasswordHasher.Configuration, maximumConcurrentPasswordHashes: Int,
    maximumQueuedPasswordHashes: Int, maximumSessionsPerUser: Int, emailCacheCapacity: Int
  ) {
    self.accessTokenLifetime = accessTokenLifetime
    self.refreshTokenLifetime = refreshTokenLifetime
    self.loginThrottle = loginThrottle
    self.passwordHashing = passwordHashing
    self.maximumConcurrentPasswordHashes = maximumConcurrentPasswordHashes
    self.maximumQueuedPasswordHashes = maximumQueuedPasswordHashes
    self.maximumSessionsPerUser = maximumSessionsPerUser
    self.emailCacheCapacity = emailCacheCapacity
  }

  /// The first thing wrong with the configuration, or `nil`.
  var problem: String? {
    if accessTokenLifetime < .seconds(1) { return "accessTokenLifetime must be at least 1 second" }
    if refreshTokenLifetime <= accessTokenLifetime {
      return "refreshTokenLifetime must be longer than accessTokenLifetime"
    }
    if let problem = loginThrottle.problem { return problem }
    if !(1...64).contains(maximumConcurrentPasswordHashes) {
      return "maximumConcurrentPasswordHashes must be 1...64"
    }
    if !(0...100_000).contains(maximumQueuedPasswordHashes) {
      return "maximumQueuedPasswordHashes must be 0...100000"
    }
    if !(1...1000).contains(maximumSessionsPerUser) { return "maximumSessionsPerUser must be 1...1000" }
    if !(1...10_000_000).contains(emailCacheCapacity) { return "emailCacheCapacity must be 1...10000000" }
    return nil
  }
}

/// Login throttling per email: `maximumFailures` failed attempts that start within `window` of
/// the first one lock the email for `lockout`. A successful login clears the count.
public struct LoginThrottlePolicy: Sendable, Hashable {
  public var maximumFailures: Int
  public var window: Duration
  public var lockout: Duration

  public init(maximumFailures: Int, window: Duration, lockout: Duration) {
    self.maximumFailures = maximumFailures
    self.window = window
    self.lockout = lockout
  }

  /// 5 failures in 15 minutes lock the email for 15 minutes.
  public static var defaults: LoginThrottlePolicy {
    LoginThrottlePolicy(maximumFailures: 5, window: .seconds(15 * 60), lockout: .seconds(15 * 60))
  }

  var problem: String? {
    if !(1...1000).contains(maximumFailures) { return "loginThrottle.maximumFailures must be 1...1000" }
    if window < .seconds(1) { return "loginThrottle.window must be at least 1 second" }
    if lockout < .seconds(1) { return "loginThrottle.lockout must be at least 1 second" }
    return nil
  }
}

/// A configuration `UsersService` cannot run with. The message names the field.
public struct UsersConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
  public let message: String
  public init(_ message: String) { self.message = message }
  public var description: String { "invalid users configuration: \(message)" }
}
