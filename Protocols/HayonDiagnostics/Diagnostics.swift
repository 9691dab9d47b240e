import HayonRPC

/// `hayon.diagnostics.v1.Diagnostics`: a small service for tests, benchmarks and operators
/// checking that the RPC path works end to end.
public enum Diagnostics {
  public static let serviceName = "hayon.diagnostics.v1.Diagnostics"

  // MARK: Messages

  public struct EchoRequest: Codable, Sendable, Hashable {
    public var message: String
    public init(message: String) { self.message = message }
  }

  public struct EchoResponse: Codable, Sendable, Hashable {
    public var message: String
    public init(message: String) { self.message = message }
  }

  public struct ExpandRequest: Codable, Sendable, Hashable {
    public var message: String
    /// How many responses to stream, 0…`maxCount`.
    public var count: Int
    public init(message: String, count: Int) {
      self.message = message
      self.count = count
    }
    public static let maxCount = 10_000
  }

  public struct ExpandResponse: Codable, Sendable, Hashable {
    public var message: String
    public var index: Int
    public init(message: String, index: Int) {
      self.message = message
      self.index = index
    }
  }

  public struct FailRequest: Codable, Sendable, Hashable {
    /// A gRPC status code, 1…16.
    public var code: Int
    public var message: String
    public init(code: Int, message: String) {
      self.code = code
      self.message = message
    }
  }

  public struct Empty: Codable, Sendable, Hashable { public init() {} }

  public struct SleepRequest: Codable, Sendable, Hashable {
    /// 0…`maxMilliseconds`.
    public var milliseconds: Int
    public init(milliseconds: Int) { self.milliseconds = milliseconds }
    public static let maxMilliseconds = 60_000
  }

  public struct SleepResponse: Codable, Sendable, Hashable {
    public var sleptMilliseconds: Int
    public init(sleptMilliseconds: Int) { self.sleptMilliseconds = sleptMilliseconds }
  }

  // MARK: Methods

  public enum Method {
    /// Returns the message unchanged.
    public enum Echo: UnaryMethod {
      public typealias Input = EchoRequest
      public typealias Output = EchoResponse
      public static let descriptor = MethodDescriptor(service: serviceName, method: "Echo", isIdempotent: true)
    }

    /// Streams `count` copies of the message, numbered from 0.
    public enum Expand: ServerStreamingMethod {
      public typealias Input = ExpandRequest
      public typealias Output = ExpandResponse
      public static let descriptor = MethodDescriptor(service: serviceName, method: "Expand", isIdempotent: true)
    }

    /// Always fails with the requested status, to exercise error paths.
    public enum Fail: UnaryMethod {
      public typealias Input = FailRequest
      public typealias Output = Empty
      public static let descriptor = MethodDescriptor(service: serviceName, method: "Fail", isIdempotent: true)
    }

    /// Sleeps, honouring cancellation and the caller's deadline.
    public enum Sleep: UnaryMethod {
      public typealias Input = SleepRequest
      public typealias Output = SleepResponse
      public static let descriptor = MethodDescriptor(service: serviceName, method: "Sleep", isIdempotent: true)
    }
  }

  // MARK: Handler side

  /// What an implementation provides; `registerMethods` wires each method to the router.
  public protocol ServiceProtocol: RPCService {
    /// Synchronous: echoing needs no waiting, so the call is answered without a task.
    func echo(_ request: EchoRequest, context: ServerContext) throws -> EchoResponse
    func expand(
      _ request: ExpandRequest, context: ServerContext, writer: ResponseStreamWriter<ExpandResponse>
    ) async throws
    func fail(_ request: FailRequest, context: ServerContext) async throws -> Empty
    func sleep(_ request: SleepRequest, context: ServerContext) async throws -> SleepResponse
  }

  // MARK: Caller side

  public struct Client: Sendable {
    public let rpc: RPCClient
    public init(_ rpc: RPCClient) { self.rpc = rpc }

    public func echo(_ request: EchoRequest, options: CallOptions = CallOptions()) async throws(RPCError) -> EchoResponse {
      try await rpc.call(Method.Echo.self, request, options: options)
    }

    public func expand(
      _ request: ExpandRequest, options: CallOptions = CallOptions(),
      onMessage: @escaping @Sendable (ExpandResponse) async throws -> Void
    ) async throws(RPCError) {
      try await rpc.serverStream(Method.Expand.self, request, options: options, onMessage: onMessage)
    }

    public func fail(_ request: FailRequest, options: CallOptions = CallOptions()) async throws(RPCError) -> Empty {
      try await rpc.call(Method.Fail.self, request, options: options)
    }

    public func sleep(_ request: SleepRequest, options: CallOptions = CallOptions()) async throws(RPCError) -> SleepResponse {
      try await rpc.call(Method.Sleep.self, request, options: options)
    }
  }
}

extension Diagnostics.ServiceProtocol {
  public var serviceName: String { Diagnostics.serviceName }

  public func registerMethods(with router: inout RPCRouter) {
    router.register(Diagnostics.Method.Echo.self, synchronous: { try self.echo($0, context: $1) })
    router.register(Diagnostics.Method.Expand.self) { try await self.expand($0, context: $1, writer: $2) }
    router.register(Diagnostics.Method.Fail.self) { try await self.fail($0, context: $1) }
    router.register(Diagnostics.Method.Sleep.self) { try await self.sleep($0, context: $1) }
  }
}

/// The standard implementation.
public struct DiagnosticsService: Diagnostics.ServiceProtocol {
  public init() {}

  public func echo(_ request: Diagnostics.EchoRequest, context: ServerContext) throws -> Diagnostics.EchoResponse {
    Diagnostics.EchoResponse(message: request.message)
  }

  public func expand(
    _ request: Diagnostics.ExpandRequest, context: ServerContext,
    writer: ResponseStreamWriter<Diagnostics.ExpandResponse>
  ) async throws {
    guard (0...Diagnostics.ExpandRequest.maxCount).contains(request.count) else {
      throw RPCError(.invalidArgument, "count must be between 0 and \(Diagnostics.ExpandRequest.maxCount)")
    }
    for index in 0..<request.count {
      try await writer.write(Diagnostics.ExpandResponse(message: request.message, index: index))
    }
  }

  public func fail(_ request: Diagnostics.FailRequest, context: ServerContext) async throws -> Diagnostics.Empty {
    guard let code = RPCStatusCode(rawValue: request.code), code != .ok else {
      throw RPCError(.invalidArgument, "code must be a gRPC status code between 1 and 16")
    }
    throw RPCError(code, request.message)
  }

  public func sleep(_ request: Diagnostics.SleepRequest, context: ServerContext) async throws -> Diagnostics.SleepResponse {
    guard (0...Diagnostics.SleepRequest.maxMilliseconds).contains(request.milliseconds) else {
      throw RPCError(.invalidArgument, "milliseconds must be between 0 and \(Diagnostics.SleepRequest.maxMilliseconds)")
    }
    try await Task.sleep(for: .milliseconds(request.milliseconds))
    return Diagnostics.SleepResponse(sleptMilliseconds: request.milliseconds)
  }
}
