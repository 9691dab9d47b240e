/// Maps `:path` to handlers. Services register their methods here; the contracts in
/// `Protocols/` provide typed registration so a method is declared in one place.
public struct RPCRouter: Sendable {
  enum Handler: Sendable {
    /// Typed unary: request message → response message, framed (`MessageFraming`), through the
    /// negotiated codec.
    case unary(@Sendable ([UInt8], any MessageCodec, ServerContext) async throws -> [UInt8])
    /// Typed unary whose handler never suspends: answered on the loop, with no task. Returns the
    /// framed response message too.
    case synchronousUnary(@Sendable ([UInt8], any MessageCodec, ServerContext) throws -> [UInt8])
    case serverStreaming(
      @Sendable ([UInt8], any MessageCodec, ServerContext, RawMessageWriter) async throws -> Void)
    /// Raw unary with its own wire format (the protobuf health check): gets the subtype and
    /// returns the response message unframed.
    case rawUnary(@Sendable ([UInt8], String, ServerContext) async throws -> [UInt8])
  }

  /// A class: every call holds its route, and one reference is cheaper to hold and let go of
  /// than a copy of all these fields.
  final class Route: Sendable {
    let descriptor: MethodDescriptor
    let handler: Handler
    /// Health probes carry no credentials, so the health service opts out.
    let requiresAuthentication: Bool
    /// Content-type subtypes this route accepts (nil: any registered codec).
    let subtypes: Set<String>?

    init(descriptor: MethodDescriptor, handler: Handler, requiresAuthentication: Bool, subtypes: Set<String>?) {
      self.descriptor = descriptor
      self.handler = handler
      self.requiresAuthentication = requiresAuthentication
      self.subtypes = subtypes
    }
  }

  private(set) var routes: [String: Route] = [:]
  private(set) var serviceNames: [String] = []

  public init() {}

  public mutating func register<M: UnaryMethod>(
    _ method: M.Type, handler: @escaping @Sendable (M.Input, ServerContext) async throws -> M.Output
  ) {
    register(method, responding: { UnaryReply(try await handler($0, $1)) })
  }

  /// Registers a unary method whose handler may answer with its response already encoded (see
  /// `UnaryReply`): a call using that encoding's codec gets those bytes as they are.
  public mutating func register<M: UnaryMethod>(
    _ method: M.Type, responding handler: @escaping @Sendable (M.Input, ServerContext) async throws -> UnaryReply<M.Output>
  ) {
    add(
      Route(
        descriptor: M.descriptor,
        handler: .unary { bytes, codec, context in
          let input = try codec.decode(M.Input.self, from: bytes)
          let response = try await handler(input, context)
          if let json = response.json, codec is JSONMessageCodec { return MessageFraming.frame(json) }
          return try codec.encodeFramed(response.value)
        }, requiresAuthentication: true, subtypes: nil))
  }

  /// Registers a unary method whose handler does not suspend (pure computation on the request,
  /// reads of in-memory state). It runs on the connection's event loop as soon as the request
  /// has arrived and its reply goes out in the same loop iteration, without the cost of a task;
  /// like every handler that runs on a loop, it must not block.
  public mutating func register<M: UnaryMethod>(
    _ method: M.Type, synchronous handler: @escaping @Sendable (M.Input, ServerContext) throws -> M.Output
  ) {
    add(
      Route(
        descriptor: M.descriptor,
        handler: .synchronousUnary { bytes, codec, context in
          let input = try codec.decode(M.Input.self, from: bytes)
          return try codec.encodeFramed(try handler(input, context))
        }, requiresAuthentication: true, subtypes: nil))
  }

  public mutating func register<M: ServerStreamingMethod>(
    _ method: M.Type,
    handler: @escaping @Sendable (M.Input, ServerContext, ResponseStreamWriter<M.Output>) async throws -> Void
  ) {
    add(
      Route(
        descriptor: M.descriptor,
        handler: .serverStreaming { bytes, codec, context, writer in
          let input = try codec.decode(M.Input.self, from: bytes)
          try await handler(input, context, ResponseStreamWriter(raw: writer, codec: codec))
        }, requiresAuthentication: true, subtypes: nil))
  }

  mutating func registerRaw(
    _ descriptor: MethodDescriptor, subtypes: Set<String>, requiresAuthentication: Bool,
    handler: @escaping @Sendable ([UInt8], String, ServerContext) async throws -> [UInt8]
  ) {
    add(Route(descriptor: descriptor, handler: .rawUnary(handler), requiresAuthentication: requiresAuthentication, subtypes: subtypes))
  }

  mutating func add(service: any RPCService) {
    service.registerMethods(with: &self)
    if !serviceNames.contains(service.serviceName) { serviceNames.append(service.serviceName) }
  }

  private mutating func add(_ route: Route) {
    precondition(routes[route.descriptor.path] == nil, "\(route.descriptor.path) registered twice")
    routes[route.descriptor.path] = route
  }

  func route(for path: String) -> Route? { routes[path] }
}

/// A unary response, with its JSON encoding when the handler already has it: a handler that
/// answers many calls with the same value (a cached document) keeps the encoding beside it and
/// spares each call encoding it again. Calls with another codec get `value` encoded as usual.
public struct UnaryReply<Output: Encodable & Sendable>: Sendable {
  public let value: Output
  /// `value` as `JSONMessageCodec` encodes it, when the handler had it.
  public let json: [UInt8]?

  public init(_ value: Output) {
    self.value = value
    json = nil
  }

  /// `json` must be `JSONMessageCodec().encode(value)`, made earlier.
  public init(_ value: Output, json: [UInt8]) {
    self.value = value
    self.json = json
  }
}
