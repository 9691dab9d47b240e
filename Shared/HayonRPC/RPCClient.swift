import HayonHTTP2
import Synchronization

/// Per-call options.
public struct CallOptions: Sendable {
  /// How long the caller waits; nil uses the client's default.
  public var timeout: Duration?
  /// Custom metadata sent with the request.
  public var metadata: Metadata

  public init(timeout: Duration? = nil, metadata: Metadata = Metadata()) {
    self.timeout = timeout
    self.metadata = metadata
  }
}

/// A unary response with the metadata that came with it.
public struct UnaryResponse<Message: Sendable>: Sendable {
  public var message: Message
  public var initialMetadata: Metadata
  public var trailingMetadata: Metadata
}

/// A typed gRPC client for one target. It keeps one HTTP/2 connection and reuses it for every
/// call (reconnecting when it breaks), applies a deadline to every call, and retries only
/// `UNAVAILABLE`, and only for methods marked idempotent or calls that never reached the server.
public final class RPCClient: Sendable {
  public struct Configuration: Sendable {
    public var target: SocketAddress
    /// TLS with ALPN h2 when set.
    public var tls: TLSConfiguration?
    /// Sent as `authorization: Bearer <token>` on every call.
    public var credential: BearerCredential?
    public var defaultTimeout: Duration = .seconds(30)
    public var maxMessageSize: Int = 4 * 1024 * 1024
    public var maxAttempts: Int = 3
    public var initialBackoff: Duration = .milliseconds(50)
    public var maxBackoff: Duration = .seconds(1)
    public var connectTimeout: Duration = .seconds(5)
    /// `application/grpc` works with every gRPC server; `+json` names the codec explicitly.
    public var contentType: String = "application/grpc"
    public var connection: HTTP2ConnectionConfiguration = .defaults
    /// Keep one connection per event loop of the group instead of one in all, and give a caller
    /// running on a loop (a handler whose task prefers that loop) the connection living on the
    /// same loop: the call's stream is opened and its response delivered without waking another
    /// thread. Callers off the loops take the connections in turn.
    public var connectionPerLoop = false

    public init(target: SocketAddress, credential: BearerCredential?, tls: TLSConfiguration? = nil) {
      self.target = target
      self.credential = credential
      self.tls = tls
    }
  }

  public let configuration: Configuration
  private let pool: ConnectionPool
  private let codec: any MessageCodec = JSONMessageCodec()
  /// The header fields every call sends, built once: (before `grpc-timeout`, after it).
  private let fixedHeaders: (leading: [HTTP2Header], trailing: [HTTP2Header])
  /// `:path` per method, so a call does not build the string again.
  private let paths = Mutex<[MethodDescriptor: String]>([:])

  public init(configuration: Configuration, group: EventLoopGroup = .shared) throws {
    self.configuration = configuration
    let tlsContext = try configuration.tls.map { try TLSContext(client: $0) }
    pool = ConnectionPool(configuration: configuration, tlsContext: tlsContext, group: group)
    var trailing = [
      HTTP2Header("content-type", configuration.contentType), HTTP2Header("user-agent", "hayon-rpc/1.0"),
    ]
    if let credential = configuration.credential {
      trailing.append(HTTP2Header("authorization", credential.authorizationHeader))
    }
    fixedHeaders = (
      [
        HTTP2Header(":method", "POST"), HTTP2Header(":scheme", configuration.tls == nil ? "http" : "https"),
        HTTP2Header(":path", ""), HTTP2Header(":authority", configuration.target.description),
        HTTP2Header("te", "trailers"),
      ],
      trailing
    )
  }

  /// Calls a unary method.
  public func call<M: UnaryMethod>(
    _ method: M.Type, _ request: M.Input, options: CallOptions = CallOptions()
  ) async throws(RPCError) -> M.Output {
    try await callWithMetadata(method, request, options: options).message
  }

  /// Calls a unary method and returns the response metadata too.
  public func callWithMetadata<M: UnaryMethod>(
    _ method: M.Type, _ request: M.Input, options: CallOptions = CallOptions()
  ) async throws(RPCError) -> UnaryResponse<M.Output> {
    let body = try codec.encode(request)
    let response = try await performUnary(M.descriptor, body: body, options: options)
    let message = try codec.decode(M.Output.self, from: response.message)
    return UnaryResponse(message: message, initialMetadata: response.initial, trailingMetadata: response.trailing)
  }

  /// Calls a unary method and returns its response message as the JSON bytes the server sent,
  /// undecoded: for a caller that forwards the message unchanged (the gateway answering with an
  /// account-service document) and would otherwise decode it only to encode the same bytes
  /// again. The bytes are checked to be one well-formed JSON value, so nothing malformed is
  /// passed on; their shape is the server's contract. Only for the JSON content types.
  public func callReturningJSON<M: UnaryMethod>(
    _ method: M.Type, _ request: M.Input, options: CallOptions = CallOptions()
  ) async throws(RPCError) -> [UInt8] {
    let body = try codec.encode(request)
    let message = try await performUnary(M.descriptor, body: body, options: options).message
    let wellFormed = message.withUnsafeBytes { bytes in
      do {
        _ = try FastJSONScanner.scan(bytes)
        return true
      } catch {
        return false
      }
    }
    guard wellFormed else { throw RPCError(.internal, "the message is not valid JSON") }
    return message
  }

  /// Calls a server-streaming method, handing each response to `onMessage` in order. Returns the
  /// trailing metadata.
  @discardableResult
  public func serverStream<M: ServerStreamingMethod>(
    _ method: M.Type, _ request: M.Input, options: CallOptions = CallOptions(),
    onMessage: @escaping @Sendable (M.Output) async throws -> Void
  ) async throws(RPCError) -> Metadata {
    let body = try codec.encode(request)
    let codec = self.codec
    // A retry after messages were delivered would repeat them, so streaming calls never retry
    // once the first message arrived.
    let (_, trailing) = try await perform(M.descriptor, body: body, options: options) { bytes throws(RPCError) in
      let message = try codec.decode(M.Output.self, from: bytes)
      do { try await onMessage(message) } catch { throw RPCError(converting: error) }
    }
    return trailing
  }

  /// The connection the next call from here would use (tests check which loop it lives on).
  func connectionForNextCall() async throws(RPCError) -> HTTP2Connection {
    try await pool.connection()
  }

  /// Closes the connection; calls in flight fail with `UNAVAILABLE`.
  public func close() async {
    await pool.close()
  }

  // MARK: Call execution

  private func perform(
    _ method: MethodDescriptor, body: [UInt8], options: CallOptions,
    onMessage: @escaping @Sendable ([UInt8]) async throws(RPCError) -> Void
  ) async throws(RPCError) -> (Metadata, Metadata) {
    let timeout = options.timeout ?? configuration.defaultTimeout
    let deadline = ContinuousClock.now + timeout
    var framed: [UInt8] = []
    MessageFraming.append(body, to: &framed)
    let metadata = try validatedMetadata(options)
    var attempt = 1
    var backoff = configuration.initialBackoff
    while true {
      let remaining = deadline - .now
      if remaining <= .zero { throw RPCError(.deadlineExceeded, "deadline exceeded before \(method.method) was sent") }
      let headers = requestHeaders(method, timeout: remaining, metadata: metadata)
      let outcome = await attemptCall(headers: headers, body: framed, timeout: remaining, onMessage: onMessage)
      switch outcome {
      case .success(let metadata):
        return metadata
      case .failure(let failure):
        let retryable = failure.error.code == .unavailable && (method.isIdempotent || !failure.reachedServer)
        let jittered = backoff * Double.random(in: 0.5...1.0)
        guard retryable, attempt < configuration.maxAttempts, !Task.isCancelled,
          deadline - .now > jittered
        else { throw failure.error }
        try? await Task.sleep(for: jittered)
        attempt += 1
        backoff = min(backoff * 2, configuration.maxBackoff)
      }
    }
  }

  struct CallFailure: Error {
    var error: RPCError
    /// False when the request certainly never reached a handler (connect failed, GOAWAY refused).
    var reachedServer: Bool
  }

  private func attemptCall(
    headers: [HTTP2Header], body: [UInt8], timeout: Duration,
    onMessage: @Sendable ([UInt8]) async throws(RPCError) -> Void
  ) async -> Result<(Metadata, Metadata), CallFailure> {
    let connection: HTTP2Connection
    do {
      connection = try await pool.connection()
    } catch {
      return .failure(CallFailure(error: error, reachedServer: false))
    }
    let (events, continuation) = AsyncStream<ClientCallEvent>.makeStream()
    let delegate = ClientCallDelegate(
      continuation: continuation, maxMessageSize: configuration.maxMessageSize, deadline: .now + timeout)
    let gate = delegate.gate
    let stream: HTTP2StreamHandle
    do {
      stream = try await connection.openStream(headers: headers, body: body, timeout: timeout, delegate: delegate)
      gate.attach(stream)
    } catch {
      pool.discard(connection)
      return .failure(CallFailure(error: RPCError(.unavailable, "connection unavailable: \(error)"), reachedServer: false))
    }
    return await withTaskCancellationHandler {
      var initial = Metadata()
      for await event in events {
        switch event {
        case .headers(let metadata):
          initial = metadata
        case .message(let bytes):
          do {
            try await onMessage(bytes)
            gate.processed(bytes.count + MessageFraming.prefixLength)
          } catch {
            connection.cancelStream(stream.id)
            return .failure(CallFailure(error: RPCError(converting: error), reachedServer: true))
          }
        case .finished(let error, let trailing, let reachedServer):
          if let error {
            if error.code == .unavailable && !reachedServer { pool.discard(connection) }
            return .failure(CallFailure(error: error, reachedServer: reachedServer))
          }
          return .success((initial, trailing))
        }
      }
      return .failure(CallFailure(error: RPCError(.cancelled, "the call was cancelled"), reachedServer: true))
    } onCancel: {
      connection.cancelStream(stream.id)
    }
  }

  /// The custom metadata to send, checked once per call (not per attempt).
  private func validatedMetadata(_ options: CallOptions) throws(RPCError) -> Metadata {
    for entry in options.metadata {
      guard Metadata.isValidCustomName(entry.name) else {
        throw RPCError(.invalidArgument, "metadata name '\(entry.name)' is not allowed")
      }
      guard entry.name.hasSuffix("-bin") || Metadata.isValidASCIIValue(entry.value) else {
        throw RPCError(.invalidArgument, "metadata '\(entry.name)' has a value that is not printable ASCII")
      }
    }
    return options.metadata
  }

  /// One attempt's header block: the fixed fields, `grpc-timeout` with what is left of the
  /// deadline, then the caller's metadata.
  private func requestHeaders(_ method: MethodDescriptor, timeout: Duration, metadata: Metadata) -> [HTTP2Header] {
    var headers: [HTTP2Header] = []
    headers.reserveCapacity(fixedHeaders.leading.count + 1 + fixedHeaders.trailing.count + metadata.count)
    headers.append(contentsOf: fixedHeaders.leading)
    headers[2] = HTTP2Header(":path", path(method))
    headers.append(HTTP2Header("grpc-timeout", GRPCTimeout.encode(timeout)))
    headers.append(contentsOf: fixedHeaders.trailing)
    for entry in metadata { headers.append(HTTP2Header(entry.name, entry.value)) }
    return headers
  }

  private func path(_ method: MethodDescriptor) -> String {
    if let path = paths.withLock({ $0[method] }) { return path }
    let path = method.path
    paths.withLock { paths in
      // Bounded by the methods a client calls; the guard only keeps a misuse from growing it.
      if paths.count < 256 { paths[method] = path }
    }
    return path
  }

  // MARK: Unary calls

  private func performUnary(
    _ method: MethodDescriptor, body: [UInt8], options: CallOptions
  ) async throws(RPCError) -> UnaryCallResult {
    let timeout = options.timeout ?? configuration.defaultTimeout
    let deadline = ContinuousClock.now + timeout
    var framed: [UInt8] = []
    framed.reserveCapacity(body.count + MessageFraming.prefixLength)
    MessageFraming.append(body, to: &framed)
    let metadata = try validatedMetadata(options)
    var attempt = 1
    var backoff = configuration.initialBackoff
    while true {
      let remaining = deadline - .now
      if remaining <= .zero { throw RPCError(.deadlineExceeded, "deadline exceeded before \(method.method) was sent") }
      let headers = requestHeaders(method, timeout: remaining, metadata: metadata)
      switch await attemptUnary(headers: headers, body: framed, timeout: remaining) {
      case .success(let result):
        return result
      case .failure(let failure):
        let retryable = failure.error.code == .unavailable && (method.isIdempotent || !failure.reachedServer)
        let jittered = backoff * Double.random(in: 0.5...1.0)
        guard retryable, attempt < configuration.maxAttempts, !Task.isCancelled,
          deadline - .now > jittered
        else { throw failure.error }
        try? await Task.sleep(for: jittered)
        attempt += 1
        backoff = min(backoff * 2, configuration.maxBackoff)
      }
    }
  }

  /// One unary attempt. The stream's delegate collects the whole response on the loop and
  /// completes the call once, so the waiting task resumes once per call (not once per header
  /// block, message and trailers, as a streaming call's event stream would).
  private func attemptUnary(
    headers: [HTTP2Header], body: [UInt8], timeout: Duration
  ) async -> Result<UnaryCallResult, CallFailure> {
    let connection: HTTP2Connection
    do {
      connection = try await pool.connection()
    } catch {
      return .failure(CallFailure(error: error, reachedServer: false))
    }
    let outcome = UnaryCallOutcome()
    let delegate = UnaryCallDelegate(
      outcome: outcome, maxMessageSize: configuration.maxMessageSize, deadline: .now + timeout)
    let stream: HTTP2StreamHandle
    do {
      stream = try await connection.openStream(headers: headers, body: body, timeout: timeout, delegate: delegate)
    } catch {
      pool.discard(connection)
      return .failure(CallFailure(error: RPCError(.unavailable, "connection unavailable: \(error)"), reachedServer: false))
    }
    let result = await withTaskCancellationHandler {
      await outcome.value()
    } onCancel: {
      // The caller stops waiting now, as it would for a streaming call; the reset follows.
      outcome.complete(.failure(CallFailure(error: RPCError(.cancelled, "the call was cancelled"), reachedServer: true)))
      connection.cancelStream(stream.id)
    }
    if case .failure(let failure) = result, failure.error.code == .unavailable && !failure.reachedServer {
      pool.discard(connection)
    }
    return result
  }
}

struct UnaryCallResult: Sendable {
  var message: [UInt8]
  var initial: Metadata
  var trailing: Metadata
}

/// A unary call's result, handed once from the loop (the stream's delegate) or the cancellation
/// handler to the waiting task, whichever comes first; later completions are ignored.
final class UnaryCallOutcome: Sendable {
  typealias Value = Result<UnaryCallResult, RPCClient.CallFailure>
  private let state = Mutex<(value: Value?, waiter: CheckedContinuation<Value, Never>?)>((nil, nil))

  func complete(_ value: Value) {
    let waiter = state.withLock { state -> CheckedContinuation<Value, Never>? in
      guard state.value == nil else { return nil }
      state.value = value
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume(returning: value)
  }

  func value() async -> Value {
    await withCheckedContinuation { continuation in
      let ready = state.withLock { state -> Value? in
        if let value = state.value { return value }
        state.waiter = continuation
        return nil
      }
      if let ready { continuation.resume(returning: ready) }
    }
  }
}

/// Collects one unary response on the loop: the initial metadata, exactly one message, then the
/// status from the trailers.
final class UnaryCallDelegate: HTTP2StreamDelegate {
  private let outcome: UnaryCallOutcome
  private var reader: ResponseReader
  private var initial = Metadata()
  private var message: [UInt8]?
  private var extraMessage = false
  private var done = false
  private let deadline: ContinuousClock.Instant

  init(outcome: UnaryCallOutcome, maxMessageSize: Int, deadline: ContinuousClock.Instant) {
    self.outcome = outcome
    self.reader = ResponseReader(maxMessageSize: maxMessageSize)
    self.deadline = deadline
  }

  func receive(_ event: HTTP2StreamEvent, stream: HTTP2StreamHandle) -> HTTP2StreamReply? {
    guard !done else { return nil }
    let step = reader.read(event) { received in
      if message == nil { message = received } else { extraMessage = true }
    }
    switch step {
    case .none:
      if extraMessage {
        finish(RPCError(.internal, "server sent more than one response to a unary call"), Metadata())
        return .reset(.cancel)
      }
      return nil
    case .initial(let metadata):
      initial = metadata
      return nil
    case .ended(let error, let trailing):
      finish(error, trailing)
      return nil
    case .failed(let error):
      finish(error, Metadata())
      return .reset(.cancel)
    }
  }

  func closed(_ reason: HTTP2StreamCloseReason) {
    guard !done else { return }
    let failure = CallEnding.failure(closedBy: reason, deadline: deadline)
    finish(failure.error, Metadata(), reachedServer: failure.reachedServer)
  }

  private func finish(_ error: RPCError?, _ trailing: Metadata, reachedServer: Bool = true) {
    guard !done else { return }
    done = true
    if let error {
      outcome.complete(.failure(RPCClient.CallFailure(error: error, reachedServer: reachedServer)))
    } else if let message {
      outcome.complete(.success(UnaryCallResult(message: message, initial: initial, trailing: trailing)))
    } else {
      outcome.complete(
        .failure(RPCClient.CallFailure(
          error: RPCError(.internal, "server sent no response message to a unary call"), reachedServer: true)))
    }
  }
}

enum ClientCallEvent: Sendable {
  case headers(Metadata)
  case message([UInt8])
  case finished(RPCError?, trailing: Metadata, reachedServer: Bool)
}

/// Counts the bytes of messages handed to the caller but not yet processed, and pauses reading
/// the stream (no WINDOW_UPDATE) while the caller is behind: a slow consumer never makes the
/// client buffer without bound, and a fast one is never throttled by small messages. Pausing
/// starts at `pauseAtBytes` and lasts until the caller is back under `resumeAtBytes`.
final class ReceiveGate: Sendable {
  static let pauseAtBytes = 512 * 1024
  static let resumeAtBytes = 128 * 1024
  private let state = Mutex<(pendingBytes: Int, paused: Bool, stream: HTTP2StreamHandle?)>((0, false, nil))

  func attach(_ stream: HTTP2StreamHandle) {
    let changed = state.withLock { state -> Bool in
      state.stream = stream
      return state.paused
    }
    if changed { tellConnection(stream) }
  }

  /// A message of `size` bytes was queued for the caller.
  func queued(_ size: Int) {
    let stream = state.withLock { state -> HTTP2StreamHandle? in
      state.pendingBytes += size
      guard state.pendingBytes >= Self.pauseAtBytes, !state.paused else { return nil }
      state.paused = true
      return state.stream
    }
    if let stream { tellConnection(stream) }
  }

  /// The caller finished with a message of `size` bytes.
  func processed(_ size: Int) {
    let stream = state.withLock { state -> HTTP2StreamHandle? in
      state.pendingBytes -= size
      guard state.pendingBytes <= Self.resumeAtBytes, state.paused else { return nil }
      state.paused = false
      return state.stream
    }
    if let stream { tellConnection(stream) }
  }

  /// The connection reads the gate's state when it applies the change, so updates that cross
  /// (a resume queued from the caller's thread, a pause applied on the loop) settle on the truth.
  private func tellConnection(_ stream: HTTP2StreamHandle) {
    stream.connection.updateReadingPaused(streamID: stream.id) { [self] in state.withLock { $0.paused } }
  }
}

/// Turns one client stream's events (on the loop) into call events for the waiting task.
final class ClientCallDelegate: HTTP2StreamDelegate {
  let gate = ReceiveGate()
  private let continuation: AsyncStream<ClientCallEvent>.Continuation
  private var reader: ResponseReader
  private var done = false
  private let deadline: ContinuousClock.Instant

  init(continuation: AsyncStream<ClientCallEvent>.Continuation, maxMessageSize: Int, deadline: ContinuousClock.Instant) {
    self.continuation = continuation
    self.reader = ResponseReader(maxMessageSize: maxMessageSize)
    self.deadline = deadline
  }

  func receive(_ event: HTTP2StreamEvent, stream: HTTP2StreamHandle) -> HTTP2StreamReply? {
    guard !done else { return nil }
    let step = reader.read(event) { message in
      gate.queued(message.count + MessageFraming.prefixLength)
      continuation.yield(.message(message))
    }
    switch step {
    case .none:
      return nil
    case .initial(let metadata):
      continuation.yield(.headers(metadata))
      return nil
    case .ended(let error, let trailing):
      finish(error, trailing)
      return nil
    case .failed(let error):
      finish(error, Metadata())
      return .reset(.cancel)
    }
  }

  func closed(_ reason: HTTP2StreamCloseReason) {
    guard !done else { return }
    let failure = CallEnding.failure(closedBy: reason, deadline: deadline)
    finish(failure.error, Metadata(), reachedServer: failure.reachedServer)
  }

  private func finish(_ error: RPCError?, _ trailing: Metadata, reachedServer: Bool = true) {
    guard !done else { return }
    done = true
    continuation.yield(.finished(error, trailing: trailing, reachedServer: reachedServer))
    continuation.finish()
  }
}

/// The response side of a client call, read the same way by the unary and the streaming
/// delegates: skips informational heads, checks the content-type, deframes messages, and reads the
/// status from the trailers (or a trailers-only head). A value-type state machine on the loop.
struct ResponseReader {
  enum Step {
    /// Nothing for the delegate to do.
    case none
    /// The response head arrived, with this custom metadata.
    case initial(Metadata)
    /// The call ended: no error for status OK.
    case ended(RPCError?, trailing: Metadata)
    /// The response is malformed: the call fails and the stream should be reset.
    case failed(RPCError)
  }

  private var deframer: MessageDeframer
  private var httpStatus: String?

  init(maxMessageSize: Int) {
    deframer = MessageDeframer(maxMessageSize: maxMessageSize)
  }

  /// Reads one stream event; complete messages go to `deliver`.
  mutating func read(_ event: HTTP2StreamEvent, deliver: ([UInt8]) -> Void) -> Step {
    switch event {
    case .headers(let headers, let endStream):
      guard httpStatus == nil else { return ended(trailers: headers) }
      let status = headers[first: ":status"] ?? ""
      if status.hasPrefix("1") { return .none }  // informational: skip
      httpStatus = status
      if headers[first: "grpc-status"] != nil || endStream { return ended(trailers: headers) }  // trailers-only
      if status == "200" {
        guard let type = headers[first: "content-type"], GRPCContentType.subtype(of: type) != nil else {
          return .failed(RPCError(.unknown, "response content-type is not application/grpc"))
        }
      }
      return .initial(CallEnding.metadata(from: headers))
    case .data(let bytes):
      guard httpStatus == "200" else { return .none }
      do {
        try deframer.feed(bytes, deliver: deliver)
      } catch {
        switch error {
        case .messageTooLarge(let length, let limit):
          return .failed(RPCError(.resourceExhausted, "response message of \(length) bytes exceeds the limit of \(limit) bytes"))
        default:
          return .failed(RPCError(.internal, "malformed response message: \(error)"))
        }
      }
      return .none
    case .end:
      return ended(trailers: [])
    }
  }

  private mutating func ended(trailers headers: [HTTP2Header]) -> Step {
    let (error, trailing) = CallEnding.status(trailers: headers, httpStatus: httpStatus)
    if error == nil, (try? deframer.finish()) == nil {
      return .ended(RPCError(.internal, "response ended inside a message"), trailing: trailing)
    }
    return .ended(error, trailing: trailing)
  }
}

/// How a call's stream ended, as the caller sees it: the rules both the unary and the streaming
/// delegates follow.
enum CallEnding {
  /// The failure for a stream that closed before its trailers arrived, and whether the server
  /// may have processed the call (a retry of a non-idempotent call must not happen if it did).
  static func failure(
    closedBy reason: HTTP2StreamCloseReason, deadline: ContinuousClock.Instant
  ) -> (error: RPCError, reachedServer: Bool) {
    switch reason {
    case .finished: return (RPCError(.unknown, "stream ended without a grpc-status"), true)
    case .timedOut: return (RPCError(.deadlineExceeded, "deadline exceeded"), true)
    case .refusedByGoaway: return (RPCError(.unavailable, "the server is going away and did not process the call"), false)
    case .connectionClosed: return (RPCError(.unavailable, "the connection closed during the call"), true)
    case .reset(.cancel) where ContinuousClock.now >= deadline:
      // The server enforced our deadline before our own timer fired: report it as what it is.
      return (RPCError(.deadlineExceeded, "deadline exceeded"), true)
    case .reset(let code): return (error(forReset: code), code != .refusedStream)
    }
  }

  /// What a trailer block says: no error for `grpc-status: 0`, with the trailing metadata.
  /// Without a grpc-status, the error is synthesised from the HTTP status.
  static func status(trailers headers: [HTTP2Header], httpStatus: String?) -> (error: RPCError?, trailing: Metadata) {
    guard let text = headers[first: "grpc-status"] else {
      let status = httpStatus ?? ""
      return (
        RPCError(code(forHTTPStatus: status), status == "200" ? "response had no grpc-status" : "HTTP status \(status)"),
        Metadata()
      )
    }
    let trailing = metadata(from: headers)
    guard let value = Int(text), let code = RPCStatusCode(rawValue: value) else {
      return (RPCError(.unknown, "unparseable grpc-status '\(text.prefix(16))'"), trailing)
    }
    if code == .ok { return (nil, trailing) }
    let message = headers[first: "grpc-message"].map(StatusMessage.decode) ?? ""
    return (RPCError(code, message, metadata: trailing), trailing)
  }

  /// grpc/grpc `http-grpc-status-mapping`: clients only, when a response carries no grpc-status.
  static func code(forHTTPStatus status: String) -> RPCStatusCode {
    switch status {
    case "400", "431": return .internal
    case "401": return .unauthenticated
    case "403": return .permissionDenied
    case "404": return .unimplemented
    case "429", "502", "503", "504": return .unavailable
    default: return .unknown
    }
  }

  static func error(forReset code: HTTP2ErrorCode) -> RPCError {
    switch code {
    case .refusedStream: return RPCError(.unavailable, "the server refused the stream")
    case .cancel: return RPCError(.cancelled, "the server cancelled the call")
    case .enhanceYourCalm: return RPCError(.resourceExhausted, "the server asked to slow down")
    case .inadequateSecurity: return RPCError(.permissionDenied, "the connection is not secure enough")
    default: return RPCError(.internal, "the stream was reset (\(code))")
    }
  }

  /// The custom metadata in a header block.
  static func metadata(from headers: [HTTP2Header]) -> Metadata {
    var metadata = Metadata()
    for header in headers where Metadata.isValidCustomName(header.name) {
      metadata.add(header.name, header.value)
    }
    return metadata
  }
}

/// Holds the client's connection (one per event loop with `connectionPerLoop`) and hands out
/// the one for the caller's loop, or takes them in turn for callers off the loops.
final class ConnectionPool: Sendable {
  private let slots: [ConnectionSlot]
  private let turn = Atomic<Int>(0)

  init(configuration: RPCClient.Configuration, tlsContext: TLSContext?, group: EventLoopGroup) {
    if configuration.connectionPerLoop && group.loops.count > 1 {
      slots = group.loops.map { ConnectionSlot(configuration: configuration, tlsContext: tlsContext, group: group, loop: $0) }
    } else {
      slots = [ConnectionSlot(configuration: configuration, tlsContext: tlsContext, group: group, loop: nil)]
    }
  }

  func connection() async throws(RPCError) -> HTTP2Connection {
    try await slot().connection()
  }

  private func slot() -> ConnectionSlot {
    if slots.count == 1 { return slots[0] }
    for slot in slots where slot.loop?.inLoop == true { return slot }
    return slots[turn.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count]
  }

  /// Forgets a connection that failed, so the next call reconnects.
  func discard(_ connection: HTTP2Connection) {
    for slot in slots { slot.discard(connection) }
  }

  func close() async {
    for slot in slots { await slot.close() }
  }
}

/// One connection of the pool; connects on first use, single-flight, and reconnects after it
/// breaks or the server sends GOAWAY. With `loop`, its connections live on that loop.
final class ConnectionSlot: Sendable {
  private struct State {
    var connection: HTTP2Connection?
    var connecting = false
    var waiters: [CheckedContinuation<HTTP2Connection, any Error>] = []
    var closed = false
  }

  private let configuration: RPCClient.Configuration
  private let tlsContext: TLSContext?
  private let group: EventLoopGroup
  let loop: EventLoop?
  private let state = Mutex(State())

  init(configuration: RPCClient.Configuration, tlsContext: TLSContext?, group: EventLoopGroup, loop: EventLoop?) {
    self.configuration = configuration
    self.tlsContext = tlsContext
    self.group = group
    self.loop = loop
  }

  func connection() async throws(RPCError) -> HTTP2Connection {
    enum Step { case ready(HTTP2Connection), wait, connect, closed }
    let step = state.withLock { state -> Step in
      if state.closed { return .closed }
      if let connection = state.connection, connection.isUsable { return .ready(connection) }
      state.connection = nil
      if state.connecting { return .wait }
      state.connecting = true
      return .connect
    }
    switch step {
    case .ready(let connection):
      return connection
    case .closed:
      throw RPCError(.unavailable, "the client is closed")
    case .wait:
      do {
        return try await withCheckedThrowingContinuation { continuation in
          enum Registration { case ready(HTTP2Connection), waiting, attemptOver }
          let registration = state.withLock { state -> Registration in
            if let connection = state.connection, connection.isUsable { return .ready(connection) }
            // The attempt this caller meant to wait for already ended (it failed, or its
            // connection is gone): waiting now would wait for nothing.
            guard state.connecting else { return .attemptOver }
            state.waiters.append(continuation)
            return .waiting
          }
          switch registration {
          case .ready(let connection): continuation.resume(returning: connection)
          case .attemptOver: continuation.resume(throwing: RPCError(.unavailable, "connect failed; try again"))
          case .waiting: break
          }
        }
      } catch {
        throw (error as? RPCError) ?? RPCError(.unavailable, "connect failed")
      }
    case .connect:
      let result: Result<HTTP2Connection, RPCError>
      do {
        // Connect from a detached task: awaited directly from a handler whose task prefers an
        // event loop (a service calling another while answering), the connect's completion was
        // sometimes never delivered and the call hung until its deadline (FirstConnectTests
        // reproduces it). A detached task carries no executor preference or actor context.
        let (configuration, tlsContext, group, loop) = (self.configuration, self.tlsContext, self.group, self.loop)
        let connection = try await Task.detached {
          try await HTTP2ClientConnector.connect(
            to: configuration.target, tls: tlsContext, serverName: configuration.tls?.serverName,
            group: group, loop: loop, configuration: configuration.connection, timeout: configuration.connectTimeout)
        }.value
        result = .success(connection)
      } catch {
        result = .failure(RPCError(.unavailable, "cannot connect to \(configuration.target): \(error)"))
      }
      let waiters = state.withLock { state -> [CheckedContinuation<HTTP2Connection, any Error>] in
        state.connecting = false
        if case .success(let connection) = result { state.connection = connection }
        let waiters = state.waiters
        state.waiters.removeAll()
        return waiters
      }
      for waiter in waiters { waiter.resume(with: result.mapError { $0 as any Error }) }
      return try result.get()
    }
  }

  /// Forgets a connection that failed, so the next call reconnects.
  func discard(_ connection: HTTP2Connection) {
    state.withLock { state in
      if state.connection === connection { state.connection = nil }
    }
  }

  func close() async {
    let connection = state.withLock { state -> HTTP2Connection? in
      state.closed = true
      defer { state.connection = nil }
      return state.connection
    }
    if let connection { await connection.beginGracefulShutdown(gracePeriod: .seconds(1)) }
  }
}
