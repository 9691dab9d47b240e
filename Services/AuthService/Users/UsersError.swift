import Foundation
import HayonModel
import HayonRPC
import HayonUsers

/// Every failure the user service reports, with the one place its code and wording are chosen.
/// No case carries a password, hash, token or email.
enum UsersError: Error, Sendable, Hashable, RPCErrorConvertible {
  /// A request field is malformed; the message names the field.
  case invalidArgument(String)
  case emailTaken
  case incorrectCredentials
  /// The email is locked out until `until`; `now` is when that was decided (for the message).
  case loginThrottled(until: Date, now: Date)
  case invalidAccessToken
  case expiredAccessToken
  case invalidRefreshToken
  case expiredRefreshToken
  case userNotFound
  /// Too many password hashes are already waiting.
  case hashingBusy
  /// The database is locked or failing; the call may work if retried.
  case storageUnavailable
  /// A broken invariant: unreadable stored data, a failing OpenSSL call.
  case internalFailure

  var rpcError: RPCError {
    switch self {
    case .invalidArgument(let message): RPCError(.invalidArgument, message)
    case .emailTaken: RPCError(.alreadyExists, Users.Messages.emailTaken)
    case .incorrectCredentials: RPCError(.unauthenticated, Users.Messages.incorrectCredentials)
    case .loginThrottled(let until, let now):
      RPCError(
        .resourceExhausted, Self.throttledMessage(until: until, now: now),
        metadata: [Users.retryAfterMetadataKey: Timestamp(until).iso8601])
    case .invalidAccessToken: RPCError(.unauthenticated, Users.Messages.invalidAccessToken)
    case .expiredAccessToken: RPCError(.unauthenticated, Users.Messages.expiredAccessToken)
    case .invalidRefreshToken: RPCError(.unauthenticated, Users.Messages.invalidRefreshToken)
    case .expiredRefreshToken: RPCError(.unauthenticated, Users.Messages.expiredRefreshToken)
    case .userNotFound: RPCError(.notFound, "no user with that id")
    case .hashingBusy: RPCError(.unavailable, "too many sign-ins in progress; try again shortly")
    case .storageUnavailable: RPCError(.unavailable, "the user store is unavailable; try again")
    case .internalFailure: RPCError(.internal, "the user service failed to handle the call")
    }
  }

  /// "too many login attempts; try again in 12 minutes", rounding up so the caller never
  /// retries early.
  static func throttledMessage(until: Date, now: Date) -> String {
    let minutes = max(1, Int((until.timeIntervalSince(now) / 60).rounded(.up)))
    return "too many login attempts; try again in \(minutes) minute\(minutes == 1 ? "" : "s")"
  }
}
