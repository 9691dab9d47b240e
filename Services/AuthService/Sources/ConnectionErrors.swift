import Foundation
import HayonAuth
import HayonModel
import HayonPlatforms
import HayonRPC

/// Every error the connection service reports, built in one place so the codes, reasons and
/// wording stay consistent. No message ever includes a credential, a code or a state value.
enum ConnectionErrors {
  static func notAvailableYet(_ platform: Platform) -> RPCError {
    RPCError(.unimplemented, "\(platform.displayName) is not available yet")
  }

  static func invalid(_ field: String, _ problem: String) -> RPCError {
    RPCError(.invalidArgument, "\(field) \(problem)")
  }

  static let blueskyHasNoBrowserSignIn = invalid(
    "platform", "bluesky has no browser sign-in: connect it with an app password (ConnectBluesky)")

  static func needsReconnection(_ platform: Platform, _ why: String) -> RPCError {
    RPCError(
      .failedPrecondition, "\(platform.displayName) needs to be connected again: \(why)",
      metadata: [Connections.ErrorReason.metadataKey: Connections.ErrorReason.needsReconnection.rawValue])
  }

  static func notConnected(_ platform: Platform) -> RPCError {
    RPCError(
      .failedPrecondition, "\(platform.displayName) is not connected",
      metadata: [Connections.ErrorReason.metadataKey: Connections.ErrorReason.notConnected.rawValue])
  }

  static func rateLimited(_ platform: Platform, until: Date?) -> RPCError {
    var metadata: Metadata = [Connections.ErrorReason.metadataKey: Connections.ErrorReason.rateLimited.rawValue]
    var message = "\(platform.displayName) is rate limiting sign-ins; try again later"
    if let until {
      let text = Timestamp(until).iso8601
      metadata.add(Connections.ErrorReason.retryAfterMetadataKey, text)
      message = "\(platform.displayName) is rate limiting sign-ins; try again after \(text)"
    }
    return RPCError(.resourceExhausted, message, metadata: metadata)
  }

  static let signInCodeRequired = RPCError(
    .failedPrecondition, "this account requires a sign-in code; use an app password",
    metadata: [Connections.ErrorReason.metadataKey: Connections.ErrorReason.signInCodeRequired.rawValue])

  static func platformUnavailable(_ platform: Platform, _ what: String) -> RPCError {
    RPCError(.unavailable, "\(platform.displayName) could not be reached or failed: \(what); try again")
  }

  static func platformRejected(_ platform: Platform, _ what: String) -> RPCError {
    RPCError(.failedPrecondition, "\(platform.displayName) refused the request: \(what)")
  }

  /// A vault entry that fails authentication or names a key this process lacks: refused, never
  /// opened into garbage. The user can fix it by connecting again.
  static func vaultUnreadable(_ platform: Platform) -> RPCError {
    RPCError(
      .dataLoss,
      "the stored \(platform.displayName) credentials could not be opened (altered, or sealed under a key "
        + "this service no longer holds); connect the account again",
      metadata: [Connections.ErrorReason.metadataKey: Connections.ErrorReason.needsReconnection.rawValue])
  }

  static func storage(_ error: any Error) -> RPCError {
    RPCError(.unavailable, "auth-service storage failed; try again")
  }

  /// A platform failure that has no more specific meaning where it happened. The message names
  /// the status and the platform's error name, never a credential.
  static func fromPlatform(_ error: PlatformError, doing what: String) -> RPCError {
    switch error.classification {
    case .transient, .unknownOutcome:
      return platformUnavailable(error.platform, "\(what) (\(error.summary))")
    case .rateLimited(let until):
      return rateLimited(error.platform, until: until)
    case .rejected:
      return platformRejected(error.platform, "\(what) (\(error.summary))")
    case .accessExpired, .reconnect:
      return needsReconnection(error.platform, "the platform no longer accepts the stored credentials")
    }
  }
}
