#if canImport(Glibc)
import Glibc
#endif
import HayonHTTP2
import Synchronization

/// A gRPC server over the HTTP/2 transport: routes calls to registered services, enforces
/// content-type, credentials, message limits and deadlines, and serves `grpc.health.v1`.
public final class RPCServer: Sendable {
  public struct Configuration: Sendable {
    public var address: SocketAddress
    public var tls: TLSConfiguration?
    public var connection: HTTP2ConnectionConfiguration = .defaults
    public var maxConnections: Int = 4096
    /// Largest request message accepted; larger ones are refused from their length prefix.
    public var maxMessageSize: Int = 4 * 1024 * 1024
    /// Calls must present `authorization: Bearer <token>` with this credential. Required: a
    /// server without one refuses every authenticated method.
    public var credential: BearerCredential?
    /// How long in-flight calls may run after a graceful shutdown begins.
    public var shutdownGracePeriod: Duration = .seconds(10)
    public var codecs: CodecRegistry = .standard

    public init(address: SocketAddress, credential: BearerCredential?) {
      self.address = address
      self.credential = credential
    }
  }

  public let configuration: Configuration
  public let health = HealthService()
  private let transport: HTTP2Server

  public init(configuration: Configuration, services: [any RPCService], group: EventLoopGroup = .shared) throws {
    self.configuration = configuration
    var router = RPCRouter()
    for service in services { router.add(service: service) }
    health.register(with: &router)
    health.setStatus(.serving, forService: "")
    for name in router.serviceNames { health.setStatus(.serving, forService: name) }
    var transportConfiguration = HTTP2Server.Configuration(address: configuration.address, tls: configuration.tls)
    transportConfiguration.connection = configuration.connection
    transportConfiguration.maxConnections = configuration.maxConnections
    let acceptor = CallAcceptor(router: router, configuration: configuration)
    transport = try HTTP2Server(configuration: transportConfiguration, group: group, acceptor: acceptor)
  }

  /// Starts listening; returns the bound address.
  public func start() async throws -> SocketAddress {
    try await transport.start()
  }

  /// Reports NOT_SERVING, sends GOAWAY, lets in-flight calls finish within the grace period, then
  /// closes every connection.
  public func shutdown() async {
    health.setAll(.notServing)
    await transport.shutdown(gracePeriod: configuration.shutdownGracePeriod)
  }

  /// Runs until the calling task is cancelled, then shuts down gracefully.
  public func run(onListening: @Sendable (SocketAddress) -> Void = { _ in }) async throws {
    let address = try await start()
    onListening(address)
    await withTaskCancellationHandler {
      await waitForever()
    } onCancel: {}
    await shutdown()
  }

  public var connectionCount: Int { transport.connectionCount }
}

private func waitForever() async {
  let stream = AsyncStream<Never> { _ in }
  for await _ in stream {}
}

/// Decides, per new stream on the loop, whether the call may proceed: content-type, method,
/// route, credentials, encoding and deadline are all checked from the header block.
struct CallAcceptor: HTTP2StreamAcceptor {
  let router: RPCRouter
  let configuration: RPCServer.Configuration

  func accept(_ head: HTTP2RequestHead, stream: HTTP2StreamHandle) -> (
    delegate: (any HTTP2StreamDelegate)?, reply: HTTP2StreamReply?
  ) {
    func refuse(_ code: RPCStatusCode, _ message: String) -> ((any HTTP2StreamDelegate)?, HTTP2StreamReply?) {
      (nil, .respond(headers: ResponseHeaders.trailersOnly(RPCError(code, message)), body: [], trailers: nil))
    }
    // First: past the limit, headers were dropped (content-type among them, perhaps), so
    // nothing else about this request can be judged.
    if head.headerListTooLarge {
      return refuse(.resourceExhausted, "request header list exceeds \(configuration.connection.maxHeaderListSize) bytes")
    }
    // The connection's reader has classified the fields as they arrived (a request upgraded
    // from HTTP/1.1 has them in `head.headers` and is read here the same way).
    let fields = (head.fieldReader as? CallFieldReader) ?? CallFieldReader(reading: head.headers, for: self)
    guard let subtype = fields.subtype else {
      return (nil, Self.unsupportedMediaType("unsupported content-type: gRPC calls use application/grpc"))
    }
    guard fields.methodIsPost == true else { return refuse(.internal, "gRPC calls must use POST") }
    guard let route = fields.route else {
      return refuse(.unimplemented, "unknown method \(String(fields.path.prefix(200)))")
    }
    if route.requiresAuthentication && !fields.authorized {
      return refuse(.unauthenticated, "missing or invalid credentials")
    }
    let codec: (any MessageCodec)?
    if let subtypes = route.subtypes {
      codec = subtypes.contains(subtype) ? JSONMessageCodec() : nil
    } else {
      codec = configuration.codecs.codec(forSubtype: subtype)
    }
    guard let codec else {
      return (nil, Self.unsupportedMediaType("unsupported gRPC content-type subtype '\(String(subtype.prefix(64)))'"))
    }
    if let encoding = fields.encoding, encoding != "identity" {
      return refuse(.unimplemented, "unsupported grpc-encoding '\(String(encoding.prefix(64)))'; this server accepts identity")
    }
    var deadline: ContinuousClock.Instant?
    var timeout: Duration?
    if let text = fields.timeout {
      guard let parsed = GRPCTimeout.parse(text) else {
        return refuse(.internal, "malformed grpc-timeout '\(String(text.prefix(16)))'")
      }
      timeout = parsed
      deadline = .now + parsed
    }
    let context = ServerContext(method: route.descriptor, metadata: fields.takeMetadata(), deadline: deadline, isSecure: head.isSecure)
    let call = ServerCall(
      route: route, codec: codec, subtype: subtype, context: context, stream: stream,
      maxMessageSize: configuration.maxMessageSize)
    if let timeout { call.armDeadline(after: timeout) }
    return (call, nil)
  }

  func makeRequestFieldReader() -> HTTP2RequestFieldReader? { CallFieldReader(for: self) }

  /// HTTP 415 with a plain-text reason: not a gRPC call at all, so no gRPC status.
  private static func unsupportedMediaType(_ reason: String) -> HTTP2StreamReply {
    .respond(
      headers: [HTTP2Header(":status", "415"), HTTP2Header("content-type", "text/plain; charset=utf-8")],
      body: Array("\(reason)\n".utf8), trailers: nil)
  }
}

/// What a call is judged by, read from its request's header fields as they arrive: the route its
/// `:path` names, whether `:method` is POST, the codec subtype of its `content-type`, whether its
/// `authorization` carries our credential, its `grpc-timeout` and `grpc-encoding`, and its custom
/// metadata. The first occurrence of each field counts; fields no call reads (`:scheme`,
/// `:authority`, `te`, `user-agent`, ...) cost a length compare.
///
/// The fields that are the same on every call of a connection are compared as bytes and never
/// become Strings: the path against the last one seen (the route is kept beside it), the common
/// content-types against their literals, the credential in constant time. One per connection
/// (see `HTTP2RequestFieldReader`), so only its own loop thread ever touches it.
final class CallFieldReader: HTTP2RequestFieldReader, @unchecked Sendable {
  /// What a field of this name is to a call: the one place the call's field names are listed.
  private enum Kind: UInt8 {
    case path, method, contentType, timeout, authorization, encoding
    /// Its flag in `seen`.
    var bit: UInt8 { 1 << rawValue }
    /// A valid custom name: the field is metadata.
    case metadata
    case ignored

    /// By length first: one integer compare rules out most names before any byte compare.
    init(_ name: UnsafeRawBufferPointer) {
      switch name.count {
      case 5 where name.equals(":path"): self = .path
      case 7 where name.equals(":method"): self = .method
      case 12 where name.equals("content-type"): self = .contentType
      case 12 where name.equals("grpc-timeout"): self = .timeout
      case 13 where name.equals("authorization"): self = .authorization
      case 13 where name.equals("grpc-encoding"): self = .encoding
      // HTTP/2 names arrive lower-case (nghttp2 refuses others), and a valid custom name is
      // lower-case by definition, so no case folding is needed.
      default: self = Metadata.isValidCustomName(name) ? .metadata : .ignored
      }
    }
  }

  private let router: RPCRouter
  private let credential: BearerCredential?

  /// nil: no `:method` field.
  private(set) var methodIsPost: Bool?
  /// The `:path` ("" when missing) and the route it names: the last path's, kept between
  /// requests, so a request costs no reference counting for them.
  var path: String { seen & Kind.path.bit != 0 ? lastPath : "" }
  var route: RPCRouter.Route? { seen & Kind.path.bit != 0 ? lastRoute : nil }
  /// The codec subtype of a gRPC `content-type` ("" for plain `application/grpc`); nil when the
  /// field is missing or not gRPC.
  private(set) var subtype: String?
  /// The first `authorization` field presented our credential.
  private(set) var authorized = false
  private(set) var timeout: String?
  private(set) var encoding: String?
  private var metadata = Metadata()
  /// The kinds of field read so far, one bit each.
  private var seen: UInt8 = 0

  /// The last path this connection asked for, as bytes, with its text and route: a client
  /// calls the same few methods over and over.
  private var lastPathBytes: [UInt8] = []
  private var lastPath = ""
  private var lastRoute: RPCRouter.Route?

  init(for acceptor: CallAcceptor) {
    router = acceptor.router
    credential = acceptor.configuration.credential
    super.init()
  }

  /// A reader that has read `headers` (a request upgraded from HTTP/1.1).
  convenience init(reading headers: [HTTP2Header], for acceptor: CallAcceptor) {
    self.init(for: acceptor)
    for header in headers {
      var name = header.name
      var value = header.value
      name.withUTF8 { name in
        value.withUTF8 { value in read(name: UnsafeRawBufferPointer(name), value: UnsafeRawBufferPointer(value)) }
      }
    }
  }

  override func reset() {
    methodIsPost = nil
    subtype = nil
    authorized = false
    if timeout != nil { timeout = nil }
    if encoding != nil { encoding = nil }
    if !metadata.isEmpty { metadata = Metadata() }
    seen = 0
  }

  /// The custom metadata read, handed over (the reader is reused for the next request).
  func takeMetadata() -> Metadata {
    defer { if !metadata.isEmpty { metadata = Metadata() } }
    return metadata
  }

  override func read(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
    let kind = Kind(name)
    switch kind {
    case .ignored:
      return
    case .metadata:
      metadata.appendWireEntry(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
      return
    default:
      break
    }
    guard seen & kind.bit == 0 else { return }
    seen |= kind.bit
    switch kind {
    case .path: readPath(value)
    case .method: methodIsPost = value.equals("POST")
    case .contentType:
      if value.equals("application/grpc") {
        subtype = ""
      } else if value.equals("application/grpc+json") {
        subtype = "json"
      } else {
        subtype = GRPCContentType.subtype(of: String(decoding: value, as: UTF8.self))
      }
    case .authorization: authorized = credential?.matches(value) ?? false
    case .timeout: timeout = String(decoding: value, as: UTF8.self)
    case .encoding: encoding = String(decoding: value, as: UTF8.self)
    case .metadata, .ignored: break
    }
  }

  private func readPath(_ value: UnsafeRawBufferPointer) {
    let same = lastPathBytes.withUnsafeBytes { last in
      last.count == value.count && (value.isEmpty || memcmp(last.baseAddress!, value.baseAddress!, value.count) == 0)
    }
    if !same {
      lastPathBytes = Array(value)
      lastPath = String(decoding: value, as: UTF8.self)
      lastRoute = router.route(for: lastPath)
    }
  }
}

/// One call on the server, driven by stream events on the loop: deframes the request, runs the
/// handler as a task on the same loop, and turns its result into the response.
final class ServerCall: HTTP2StreamDelegate {
  private let route: RPCRouter.Route
  private let codec: any MessageCodec
  private let subtype: String
  private let context: ServerContext
  private let stream: HTTP2StreamHandle
  private var deframer: MessageDeframer
  /// The request message (unary and server-streaming calls take exactly one) and how many came.
  private var request: [UInt8]?
  private var messageCount = 0
  private var task: Task<Void, Never>?
  private var deadlineTimer: UInt64?
  private var finished = false

  init(
    route: RPCRouter.Route, codec: any MessageCodec, subtype: String, context: ServerContext,
    stream: HTTP2StreamHandle, maxMessageSize: Int
  ) {
    self.route = route
    self.codec = codec
    self.subtype = subtype
    self.context = context
    self.stream = stream
    self.deframer = MessageDeframer(maxMessageSize: maxMessageSize)
  }

  func armDeadline(after timeout: Duration) {
    let stream = self.stream
    deadlineTimer = stream.connection.loop.scheduleTimer(afterNanoseconds: timeout.saturatingNanoseconds) { [self] in
      deadlineTimer = nil
      task?.cancel()
      finished = true
      // The deadline passed: stop the handler and tell the client with RST_STREAM(CANCEL).
      stream.connection.assumeIsolated { $0.perform(.reset(.cancel), on: stream.id) }
    }
  }

  func receive(_ event: HTTP2StreamEvent, stream: HTTP2StreamHandle) -> HTTP2StreamReply? {
    guard !finished else { return nil }
    switch event {
    case .headers:
      return nil
    case .data(let bytes):
      do {
        try deframer.feed(bytes) { message in
          messageCount += 1
          if messageCount == 1 { request = message }
        }
        if messageCount > 1 { return fail(RPCError(.unimplemented, "\(route.descriptor.method) takes exactly one request message")) }
      } catch {
        return fail(Self.error(for: error))
      }
      return nil
    case .end:
      do {
        try deframer.finish()
      } catch {
        return fail(Self.error(for: error))
      }
      guard messageCount == 1, let request else {
        return fail(RPCError(.unimplemented, "\(route.descriptor.method) takes exactly one request message, got \(messageCount)"))
      }
      self.request = nil
      if case .synchronousUnary(let handler) = route.handler {
        finished = true
        // A deadline already past (grpc-timeout 0S, or a slow upload) ends the call as the
        // timer does for a handler that runs as a task, which it would fire before this one ran.
        if let deadline = context.deadline, ContinuousClock.now >= deadline { return .reset(.cancel) }
        return Self.reply(context: context) { try handler(request, codec, context) }
      }
      start(request: request)
      return nil
    }
  }

  func closed(_ reason: HTTP2StreamCloseReason) {
    if let timer = deadlineTimer {
      stream.connection.loop.cancelTimer(timer)
      deadlineTimer = nil
    }
    // A reset or lost connection cancels the handler; a normal close means it already finished.
    if reason != .finished { task?.cancel() }
  }

  private func fail(_ error: RPCError) -> HTTP2StreamReply {
    finished = true
    return .respond(headers: ResponseHeaders.trailersOnly(error), body: [], trailers: nil)
  }

  static func error(for failure: MessageDeframer.Failure) -> RPCError {
    switch failure {
    case .messageTooLarge(let length, let limit):
      return RPCError(.resourceExhausted, "request message of \(length) bytes exceeds the limit of \(limit) bytes")
    case .compressedWithoutEncoding:
      return RPCError(.internal, "compressed flag set, but this call's grpc-encoding is identity (none negotiated)")
    case .invalidFlag(let flag):
      return RPCError(.internal, "invalid compressed flag \(flag)")
    case .truncated(let missing):
      return RPCError(.internal, "request stream ended inside a message (\(missing) bytes missing)")
    }
  }

  private func start(request: [UInt8]) {
    let route = self.route
    let codec = self.codec
    let subtype = self.subtype
    let context = self.context
    let stream = self.stream
    // Unstructured by necessity: the call's lifetime is the stream's, owned by the connection.
    // The task is cancelled when the stream resets, the connection closes or the deadline passes.
    task = Self.spawn(route.handler, request: request, codec: codec, subtype: subtype, context: context, stream: stream)
  }

  private static func spawn(
    _ handler: RPCRouter.Handler, request: [UInt8], codec: any MessageCodec, subtype: String,
    context: ServerContext, stream: HTTP2StreamHandle
  ) -> Task<Void, Never> {
    let executor: any TaskExecutor = stream.connection.loop.taskExecutor
    if case .serverStreaming = handler {
      return Task(executorPreference: executor) {
        await run(handler, request: request, codec: codec, subtype: subtype, context: context, stream: stream)
      }
    }
    // A unary handler starts at once, here on the loop, instead of as a job queued behind this
    // loop iteration's I/O: most finish without suspending, and their reply is only submitted
    // to nghttp2 (which is allowed inside its callbacks) and flushed when the loop goes idle.
    // Streaming handlers talk to the connection actor between messages, so they start queued.
    return Task.immediate(executorPreference: executor) {
      await run(handler, request: request, codec: codec, subtype: subtype, context: context, stream: stream)
    }
  }

  private static func run(
    _ handler: RPCRouter.Handler, request: [UInt8], codec: any MessageCodec, subtype: String,
    context: ServerContext, stream: HTTP2StreamHandle
  ) async {
    switch handler {
    case .unary(let handler):
      await respond(stream: stream, context: context) { try await handler(request, codec, context) }
    case .synchronousUnary(let handler):
      // Answered in `receive`, without a task; a task running one answers the same way.
      await respond(stream: stream, context: context) { try handler(request, codec, context) }
    case .rawUnary(let handler):
      await respond(stream: stream, context: context) { MessageFraming.frame(try await handler(request, subtype, context)) }
    case .serverStreaming(let handler):
      let writer = RawMessageWriter(stream: stream, context: context)
      do {
        try await handler(request, codec, context, writer)
        await writer.finish(with: nil)
      } catch {
        await writer.finish(with: RPCError(converting: error))
      }
    }
  }

  private static func respond(
    stream: HTTP2StreamHandle, context: ServerContext, _ body: () async throws -> [UInt8]
  ) async {
    let reply: HTTP2StreamReply
    do {
      let output = try await body()
      reply = Self.reply(context: context) { output }
    } catch {
      reply = Self.reply(context: context) { throw error }
    }
    guard case .respond(let headers, let body, let trailers) = reply else { return }
    await stream.respond(headers: headers, body: body, trailers: trailers)
  }

  /// A unary call's complete response: the framed message `body` returns, with the handler's
  /// metadata, or its error as a trailers-only response.
  private static func reply(context: ServerContext, _ body: () throws -> [UInt8]) -> HTTP2StreamReply {
    do {
      let framed = try body()
      let (initial, trailing) = context.response.withLock { ($0.initial, $0.trailing) }
      return .respond(
        headers: ResponseHeaders.initial(initial), body: framed,
        trailers: ResponseHeaders.trailers(status: nil, metadata: trailing))
    } catch {
      var rpcError = RPCError(converting: error)
      let (initial, trailing) = context.response.withLock { ($0.initial, $0.trailing) }
      for entry in trailing { rpcError.metadata.add(entry.name, entry.value) }
      return .respond(headers: ResponseHeaders.trailersOnly(rpcError, initial: initial), body: [], trailers: nil)
    }
  }
}

/// The byte-level writer behind `ResponseStreamWriter`: sends the header block before the first
/// message, then framed messages with back-pressure, then trailers.
final class RawMessageWriter: Sendable {
  private let stream: HTTP2StreamHandle
  private let context: ServerContext
  private let headersSent = Mutex(false)

  init(stream: HTTP2StreamHandle, context: ServerContext) {
    self.stream = stream
    self.context = context
  }

  /// Sends one framed message (`MessageFraming`).
  func write(_ framed: [UInt8]) async throws(RPCError) {
    if Task.isCancelled { throw RPCError(.cancelled, "the call was cancelled") }
    do {
      if headersSent.withLock({ sent in defer { sent = true }; return !sent }) {
        let initial = context.response.withLock { $0.initial }
        try await stream.sendHeaders(ResponseHeaders.initial(initial))
      }
      try await stream.write(framed)
    } catch {
      throw RPCError(.cancelled, "the client went away")
    }
  }

  func finish(with error: RPCError?) async {
    let (initial, trailing) = context.response.withLock { ($0.initial, $0.trailing) }
    let sent = headersSent.withLock { $0 }
    if !sent {
      if var error {
        for entry in trailing { error.metadata.add(entry.name, entry.value) }
        await stream.respond(headers: ResponseHeaders.trailersOnly(error, initial: initial), body: [], trailers: nil)
      } else {
        await stream.respond(
          headers: ResponseHeaders.initial(initial), body: [],
          trailers: ResponseHeaders.trailers(status: nil, metadata: trailing))
      }
      return
    }
    await stream.finish(trailers: ResponseHeaders.trailers(status: error, metadata: trailing))
  }
}

/// The response header blocks, in one place.
enum ResponseHeaders {
  private static let standardInitial = [
    HTTP2Header(":status", "200"), HTTP2Header("content-type", "application/grpc"),
    HTTP2Header("grpc-accept-encoding", "identity"),
  ]
  private static let okTrailers = [HTTP2Header("grpc-status", "0")]

  static func initial(_ metadata: Metadata) -> [HTTP2Header] {
    if metadata.isEmpty { return standardInitial }
    var headers = standardInitial
    for entry in metadata { headers.append(HTTP2Header(entry.name, entry.value)) }
    return headers
  }

  static func trailers(status error: RPCError?, metadata: Metadata) -> [HTTP2Header] {
    if error == nil && metadata.isEmpty { return okTrailers }
    var headers = [HTTP2Header("grpc-status", String(error?.code.rawValue ?? 0))]
    if let error {
      if !error.message.isEmpty {
        headers.append(HTTP2Header("grpc-message", StatusMessage.encode(StatusMessage.truncated(error.message))))
      }
      for entry in error.metadata { headers.append(HTTP2Header(entry.name, entry.value)) }
    }
    for entry in metadata { headers.append(HTTP2Header(entry.name, entry.value)) }
    return headers
  }

  /// A single HEADERS frame with END_STREAM carrying the status: used for every early error.
  static func trailersOnly(_ error: RPCError, initial metadata: Metadata = Metadata()) -> [HTTP2Header] {
    initial(metadata) + trailers(status: error, metadata: Metadata())
  }
}
