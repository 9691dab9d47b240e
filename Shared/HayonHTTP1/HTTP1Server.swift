import CLinuxShims
import HayonHTTP2
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A strict HTTP/1.1 server on the shared epoll event loops. Every request is parsed by
/// `HTTP1RequestParser` (malformed or oversized requests are answered 4xx/505 and the connection
/// closed, without calling the handler), handed complete to `handler`, and answered in order.
///
/// Behaviour in brief:
/// - Limits (`Configuration.parser`): request line 8 KiB (414), 100 fields and a 16 KiB header
///   section (431), body 1 MiB (413). Framing conflicts, obs-fold, bare CR/LF, NUL, bad tokens,
///   bad chunk sizes: 400. Versions other than 1.0/1.1: 505. Error bodies are JSON
///   `{"error":{"code":"...","message":"..."}}`, always with `Connection: close`.
/// - Keep-alive by default for HTTP/1.1; HTTP/1.0 only with `Connection: keep-alive`;
///   `Connection: close` from either side is honoured. Pipelined requests run one at a time, in
///   order; at most `maxReadAhead` bytes are read ahead while a handler runs.
/// - The server sets `Content-Length` (not for 204/304), `Date` and `Connection`; HEAD gets no
///   body; `Expect: 100-continue` is answered when the request is reached, before its body is read.
/// - Timeouts: `headerReadTimeout` (also for a connection that sends nothing; 408 once bytes
///   came), `bodyReadTimeout`, `idleTimeout` between requests, `writeTimeout` for a client that
///   stops reading (the connection is reset). After its last response a connection half-closes
///   and drains for up to `lingerTimeout`, so the client reads the response instead of a reset.
/// - `HTTPResponse.dropsConnection` closes without writing that response.
/// - Over `maxConnections`: a best-effort 503, then close.
/// - `shutdown(gracePeriod:)` stops accepting, closes idle connections, lets running handlers
///   finish (their responses carry `Connection: close`) and closes what is left after the grace.
/// - SIGPIPE: every send uses `MSG_NOSIGNAL`, and `EventLoopGroup` ignores SIGPIPE process-wide.
/// - HTTP/2 on the same port: `Configuration.http2Handoff` (package access) receives connections
///   that open with the HTTP/2 preface or ask for `Upgrade: h2c`; without it the preface gets 505
///   and the upgrade is ignored.
public final class HTTP1Server: Sendable {
  /// Answers one complete request. Runs as a task preferring the connection's event loop.
  public typealias Handler = @Sendable (HTTPRequest) async -> HTTPResponse

  public struct Configuration: Sendable {
    public var address: SocketAddress
    /// Request size limits.
    public var parser: HTTP1RequestParser.Configuration = .defaults
    /// Connections beyond this are answered 503 and closed as soon as they are accepted.
    public var maxConnections = 1024
    /// From the first byte of a request (or from accept) until its head is complete (slow loris);
    /// answered 408 and closed.
    public var headerReadTimeout: Duration = .seconds(10)
    /// From the first byte of a request until its body is complete.
    public var bodyReadTimeout: Duration = .seconds(60)
    /// A keep-alive connection with no request for this long is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// A client that reads none of its queued responses for this long is disconnected.
    public var writeTimeout: Duration = .seconds(30)
    /// After the last response of a closing connection, how long to keep draining what the
    /// client still sends.
    public var lingerTimeout: Duration = .seconds(2)
    /// Bytes drained while lingering before giving up.
    public var maxLingerBytes = 256 * 1024
    /// Pipelined bytes read ahead while a handler runs.
    public var maxReadAhead = 64 * 1024
    /// Response bytes queued for a slow reader before the next request waits.
    public var maxBufferedOutbound = 1024 * 1024
    /// Takes over connections that speak HTTP/2 (prior knowledge or `Upgrade: h2c`); see
    /// `HTTP1ProtocolHandoff`. Nil: this port speaks HTTP/1.x only.
    package var http2Handoff: (any HTTP1ProtocolHandoff)?
    /// Extra header fields for the errors this server answers by itself (a request it cannot
    /// parse, a timeout, overload), which never reach the handler. The gateway adds a fresh
    /// request id, as on every other response.
    public var transportErrorHeaders: (@Sendable () -> HTTPFields)?

    public init(address: SocketAddress) {
      self.address = address
    }
  }

  private struct State {
    var listener: SocketListener?
    var started = false
    var connections: [ObjectIdentifier: HTTP1Connection] = [:]
    var shuttingDown = false
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  public let configuration: Configuration
  private let group: EventLoopGroup
  private let handler: Handler
  private let state = Mutex(State())
  private let draining = DrainingFlag()

  public init(configuration: Configuration, group: EventLoopGroup = .shared, handler: @escaping Handler) {
    self.configuration = configuration
    self.group = group
    self.handler = handler
  }

  /// Binds and starts accepting. Returns the bound address (its port is real when asked for 0).
  public func start() async throws -> SocketAddress {
    let alreadyStarted = state.withLock { state -> Bool in
      defer { state.started = true }
      return state.started || state.shuttingDown
    }
    guard !alreadyStarted else { throw HTTP1ServerError.alreadyStarted }
    let (fd, port) = try Sockets.listen(on: configuration.address)
    let loop = group.loops[0]
    let listener = SocketListener(fd: fd, loop: loop) { [weak self] client in
      // A server released without `shutdown` leaves its listener registered; refuse, never crash.
      guard let self else { close(client); return }
      self.accepted(fd: client)
    }
    state.withLock { $0.listener = listener }
    try await loop.run { () throws(SocketError) in
      try loop.register(fd: fd, events: EPOLLIN.rawValue, handler: listener)
    }
    return SocketAddress(host: configuration.address.host, port: port)
  }

  /// Serves a connected stream socket accepted elsewhere (a TLS terminator's plaintext side),
  /// exactly like one this server accepted (limits, timeouts, shutdown). The server need not
  /// listen itself.
  package func adopt(fd: Int32) {
    accepted(fd: fd)
  }

  /// Number of open connections.
  public var connectionCount: Int { state.withLock { $0.connections.count } }

  /// The response to a request that failed before reaching the handler, with the configured
  /// extra fields.
  static func transportError(status: Int, reason: String, configuration: Configuration) -> HTTPResponse {
    var response = HTTP1ResponseEncoder.errorResponse(status: status, reason: reason)
    if let extra = configuration.transportErrorHeaders?() {
      for field in extra { response.headers.set(field.name, field.value) }
    }
    return response
  }

  private func overloadedResponse() -> [UInt8] {
    var output = ByteQueue()
    _ = HTTP1ResponseEncoder.encode(
      Self.transportError(status: 503, reason: "too many connections", configuration: configuration), method: "GET",
      version: .http1_1, keepAlive: false, date: HTTPDateCache.format(time(nil)), into: &output)
    return output.withReadableBytes { Array($0) }
  }

  private func accepted(fd: Int32) {
    let admitted = state.withLock { !$0.shuttingDown && $0.connections.count < configuration.maxConnections }
    guard admitted else {
      // Best effort, never blocking: a short 503 into the empty send buffer, then close.
      _ = overloadedResponse().withUnsafeBytes {
        send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
      }
      Glibc.shutdown(fd, Int32(SHUT_WR))
      close(fd)
      return
    }
    Sockets.setNoDelay(fd)
    let loop = group.next()
    // The id is fixed before the connection exists so its close callback can carry it.
    let identity = ConnectionIdentity()
    let id = ObjectIdentifier(identity)
    let connection = HTTP1Connection(
      fd: fd, loop: loop, configuration: configuration, handler: handler, serverDraining: draining,
      onClose: { [self] in _ = identity; self.connectionClosed(id) })
    state.withLock { $0.connections[id] = connection }
    loop.execute {
      connection.assumeIsolated { $0.start() }
    }
  }

  private func connectionClosed(_ id: ObjectIdentifier) {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      state.connections.removeValue(forKey: id)
      guard state.shuttingDown, state.connections.isEmpty, state.listener == nil else { return [] }
      let waiters = state.waiters
      state.waiters.removeAll()
      return waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Stops accepting, closes idle connections, lets running handlers finish (their responses
  /// close their connections) for up to `gracePeriod`, then closes what is left. Returns when
  /// every connection is closed.
  public func shutdown(gracePeriod: Duration = .seconds(10)) async {
    draining.set()
    let (listener, connections) = state.withLock { state -> (SocketListener?, [HTTP1Connection]) in
      state.shuttingDown = true
      let listener = state.listener
      state.listener = nil
      return (listener, Array(state.connections.values))
    }
    if let listener {
      await listener.loop.run { listener.close() }
    }
    for connection in connections {
      await connection.beginGracefulShutdown(gracePeriod: gracePeriod)
    }
    await withCheckedContinuation { continuation in
      let done = state.withLock { state -> Bool in
        if state.connections.isEmpty { return true }
        state.waiters.append(continuation)
        return false
      }
      if done { continuation.resume() }
    }
  }
}

/// A unique object per connection whose identity keys the server's connection table.
private final class ConnectionIdentity: Sendable {}

public enum HTTP1ServerError: Error, Sendable, Equatable {
  /// `start()` was called twice, or after `shutdown`.
  case alreadyStarted
}
