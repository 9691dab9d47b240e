/// A gRPC status code (grpc/grpc `doc/statuscodes.md`). A struct with static members rather than
/// a public enum, so codes can be added without breaking callers.
public struct RPCStatusCode: Sendable, Hashable, CustomStringConvertible {
  public let rawValue: Int

  public init?(rawValue: Int) {
    guard (0...16).contains(rawValue) else { return nil }
    self.rawValue = rawValue
  }
  private init(_ value: Int) { rawValue = value }

  public static let ok = RPCStatusCode(0)
  /// The caller cancelled the call.
  public static let cancelled = RPCStatusCode(1)
  /// A failure with no better code, including handler errors that are not `RPCError`s.
  public static let unknown = RPCStatusCode(2)
  /// The request itself is wrong, whatever the system's state (bad field, bad shape).
  public static let invalidArgument = RPCStatusCode(3)
  public static let deadlineExceeded = RPCStatusCode(4)
  public static let notFound = RPCStatusCode(5)
  public static let alreadyExists = RPCStatusCode(6)
  public static let permissionDenied = RPCStatusCode(7)
  /// Out of a resource: a quota, a size limit, a rate limit.
  public static let resourceExhausted = RPCStatusCode(8)
  /// The system is not in a state where the request can run, and retrying will not help until
  /// that state changes (for example: posting to a disconnected account).
  public static let failedPrecondition = RPCStatusCode(9)
  /// A concurrency conflict: retry at a higher level (re-read, then re-apply).
  public static let aborted = RPCStatusCode(10)
  public static let outOfRange = RPCStatusCode(11)
  public static let unimplemented = RPCStatusCode(12)
  /// A broken invariant: a protocol violation or unparseable message.
  public static let `internal` = RPCStatusCode(13)
  /// Transient: the same call may succeed if simply retried (with backoff).
  public static let unavailable = RPCStatusCode(14)
  public static let dataLoss = RPCStatusCode(15)
  public static let unauthenticated = RPCStatusCode(16)

  static let names = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
    "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
  ]

  /// The canonical upper-case name, e.g. `INVALID_ARGUMENT`.
  public var name: String { Self.names[rawValue] }
  public var description: String { name }
  public static let all: [RPCStatusCode] = (0...16).map { RPCStatusCode($0) }
}

/// The one error type of the RPC layer: a non-OK status code, a message for the caller, and
/// optional trailing metadata.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
  public var code: RPCStatusCode
  public var message: String
  public var metadata: Metadata

  public init(_ code: RPCStatusCode, _ message: String, metadata: Metadata = Metadata()) {
    precondition(code != .ok, "an RPCError cannot be OK")
    self.code = code
    self.message = message
    self.metadata = metadata
  }

  public var description: String { message.isEmpty ? code.name : "\(code.name): \(message)" }
}

/// Domain errors adopt this to choose the status they travel as.
public protocol RPCErrorConvertible: Error {
  var rpcError: RPCError { get }
}

extension RPCError {
  /// Any error as the status a caller sees. Unknown errors become `UNKNOWN` with a generic
  /// message, so internals never leak to callers.
  public init(converting error: any Error) {
    switch error {
    case let error as RPCError: self = error
    case let error as any RPCErrorConvertible: self = error.rpcError
    case is CancellationError: self = RPCError(.cancelled, "the call was cancelled")
    default: self = RPCError(.unknown, "the server failed to handle the call")
    }
  }
}
