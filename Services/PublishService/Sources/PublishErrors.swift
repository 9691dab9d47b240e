import HayonModel
import HayonRPC
import HayonStore

/// Every error the posts service reports, built in one place.
enum PublishErrors {
  static func invalid(_ field: String, _ problem: String) -> RPCError {
    RPCError(.invalidArgument, "\(field) \(problem)")
  }

  /// Another user's post looks exactly like a missing one.
  static let postNotFound = RPCError(.notFound, "no post with that id")

  static func wrongState(_ message: String) -> RPCError { RPCError(.failedPrecondition, message) }

  static func notConnected(_ platform: Platform) -> RPCError {
    RPCError(.failedPrecondition, "platforms: \(platform.displayName) is not connected; connect it before posting to it")
  }

  static func notAvailable(_ platform: Platform) -> RPCError {
    RPCError(.unimplemented, "platforms: publishing to \(platform.displayName) is not available yet")
  }

  static let accountsUnavailable = RPCError(.unavailable, "account-service could not be reached; try again")

  /// A store failure as callers see it.
  static func storage(_ error: any Error) -> RPCError {
    switch error {
    case let error as RPCError: error
    case StoreError.versionConflict: RPCError(.aborted, "the post changed meanwhile; read it again and retry")
    case StoreError.busy: RPCError(.unavailable, "publish-service storage is busy; try again")
    case StoreError.invalidArgument: RPCError(.invalidArgument, "pageToken is not a token from a previous page of this query")
    default: RPCError(.internal, "publish-service storage failed")
    }
  }
}
