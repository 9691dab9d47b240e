/// Names one RPC method: `/package.Service/Method`.
public struct MethodDescriptor: Sendable, Hashable, CustomStringConvertible {
  public let service: String
  public let method: String
  /// Safe to retry when the call fails with `UNAVAILABLE`.
  public let isIdempotent: Bool

  public init(service: String, method: String, isIdempotent: Bool = false) {
    self.service = service
    self.method = method
    self.isIdempotent = isIdempotent
  }

  public var path: String { "/\(service)/\(method)" }
  public var description: String { path }
}

/// A method contract: its descriptor and message types. Declared once, in `Protocols/`.
public protocol RPCMethod: Sendable {
  associatedtype Input: Codable & Sendable
  associatedtype Output: Codable & Sendable
  static var descriptor: MethodDescriptor { get }
}

/// One request, one response.
public protocol UnaryMethod: RPCMethod {}
/// One request, a stream of responses.
public protocol ServerStreamingMethod: RPCMethod {}

/// A service implementation registers its methods with the server's router.
public protocol RPCService: Sendable {
  /// The full service name, e.g. `hayon.diagnostics.v1.Diagnostics` (reported by health checks).
  var serviceName: String { get }
  func registerMethods(with router: inout RPCRouter)
}
