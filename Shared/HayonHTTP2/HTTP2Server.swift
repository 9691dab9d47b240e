import CLinuxShims
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/2 server: cleartext with prior knowledge, or TLS with ALPN h2. Each accepted
/// connection gets its own event loop from the group; streams go to the acceptor.
public final class HTTP2Server: Sendable {
  public struct Configuration: Sendable {
    public var address: SocketAddress
    /// When set, every connection is TLS (ALPN h2); with `trustRootsPath`, mutual TLS.
    public var tls: TLSConfiguration?
    public var connection: HTTP2ConnectionConfiguration = .defaults
    /// Connections beyond this are closed as soon as they are accepted.
    public var maxConnections: Int = 4096

    public init(address: SocketAddress, tls: TLSConfiguration? = nil) {
      self.address = address
      self.tls = tls
    }
  }

  private struct State {
    var listener: SocketListener?
    var connections: [ObjectIdentifier: HTTP2Connection] = [:]
    var shuttingDown = false
    var stopped = false
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  public let configuration: Configuration
  private let group: EventLoopGroup
  private let acceptor: any HTTP2StreamAcceptor
  private let tlsContext: TLSContext?
  private let state = Mutex(State())

  public init(
    configuration: Configuration, group: EventLoopGroup = .shared, acceptor: any HTTP2StreamAcceptor
  ) throws(TLSError) {
    self.configuration = configuration
    self.group = group
    self.acceptor = acceptor
    self.tlsContext = try configuration.tls.map { config throws(TLSError) in try TLSContext(server: config) }
  }

  /// Binds and starts accepting. Returns the bound address (its port is real when asked for 0).
  public func start() async throws -> SocketAddress {
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

  /// Number of open connections.
  public var connectionCount: Int { state.withLock { $0.connections.count } }

  private func accepted(fd: Int32) {
    let admitted = state.withLock { !$0.shuttingDown && $0.connections.count < configuration.maxConnections }
    guard admitted else {
      close(fd)
      return
    }
    Sockets.setNoDelay(fd)
    let loop = group.next()
    let tls: TLSSession?
    if let tlsContext {
      guard let session = try? TLSSession(context: tlsContext, serverName: nil) else {
        close(fd)
        return
      }
      tls = session
    } else {
      tls = nil
    }
    let connection = HTTP2Connection(
      fd: fd, loop: loop, role: .server, tls: tls, acceptor: acceptor, configuration: configuration.connection)
    let id = ObjectIdentifier(connection)
    state.withLock { $0.connections[id] = connection }
    loop.execute { [self] in
      connection.assumeIsolated { connection in
        connection.start(onClose: { [self] in self.connectionClosed(id) })
      }
    }
  }

  private func connectionClosed(_ id: ObjectIdentifier) {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      state.connections.removeValue(forKey: id)
      guard state.shuttingDown, state.connections.isEmpty, state.listener == nil else { return [] }
      state.stopped = true
      let waiters = state.waiters
      state.waiters.removeAll()
      return waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Stops accepting, sends GOAWAY on every connection, lets in-flight calls finish for up to
  /// `gracePeriod`, then closes what is left. Returns when every connection is closed.
  public func shutdown(gracePeriod: Duration = .seconds(10)) async {
    let (listener, connections) = state.withLock { state -> (SocketListener?, [HTTP2Connection]) in
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
        if state.connections.isEmpty {
          state.stopped = true
          return true
        }
        state.waiters.append(continuation)
        return false
      }
      if done { continuation.resume() }
    }
  }
}

extension EventLoop {
  /// Runs `body` on the loop and returns its result to the caller.
  package func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
      execute {
        do throws(E) {
          continuation.resume(returning: .success(try body()))
        } catch {
          continuation.resume(returning: .failure(error))
        }
      }
    }
    return try result.get()
  }
}
