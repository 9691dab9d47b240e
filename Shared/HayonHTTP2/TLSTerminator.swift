import CLinuxShims
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Terminates TLS in front of a plaintext server on the same event loops: each accepted TLS
/// connection gets a socketpair; decrypted bytes go to one end, and the other end is handed to
/// `deliver` (an HTTP/1.1 server's `adopt`, whose connection then sees what the client sent: an
/// HTTP/1.1 request, or the HTTP/2 preface after ALPN `h2`). What that server writes is encrypted
/// back to the client. ALPN offers `h2` and `http/1.1`.
package final class TLSTerminator: Sendable {
  private struct State {
    var listener: SocketListener?
    var bridges: [ObjectIdentifier: TLSBridge] = [:]
    var shuttingDown = false
  }

  private let context: TLSContext
  private let group: EventLoopGroup
  private let address: SocketAddress
  private let maxConnections: Int
  private let deliver: @Sendable (Int32) -> Void
  private let state = Mutex(State())

  package init(
    address: SocketAddress, tls: TLSConfiguration, group: EventLoopGroup, maxConnections: Int,
    deliver: @escaping @Sendable (Int32) -> Void
  ) throws(TLSError) {
    // The REST port serves browsers and curl: HTTP/2 when offered, else HTTP/1.1, and no client
    // certificates (authentication is by token or session cookie).
    self.context = try TLSContext(server: tls, acceptedProtocols: ["h2", "http/1.1"], requiresClientCertificate: false)
    self.group = group
    self.address = address
    self.maxConnections = maxConnections
    self.deliver = deliver
  }

  package func start() async throws -> SocketAddress {
    let (fd, port) = try Sockets.listen(on: address)
    let loop = group.loops[0]
    let listener = SocketListener(fd: fd, loop: loop) { [weak self] client in
      guard let self else { close(client); return }
      self.accepted(client)
    }
    state.withLock { $0.listener = listener }
    try await loop.run { () throws(SocketError) in
      try loop.register(fd: fd, events: EPOLLIN.rawValue, handler: listener)
    }
    return SocketAddress(host: address.host, port: port)
  }

  package var connectionCount: Int { state.withLock { $0.bridges.count } }

  private func accepted(_ client: Int32) {
    let admitted = state.withLock { !$0.shuttingDown && $0.bridges.count < maxConnections }
    guard admitted, let session = try? TLSSession(context: context, serverName: nil) else {
      close(client)
      return
    }
    var pair: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0
    else {
      close(client)
      return
    }
    Sockets.setNoDelay(client)
    let loop = group.next()
    let bridge = TLSBridge(client: client, plain: pair[0], loop: loop, tls: session)
    let id = ObjectIdentifier(bridge)
    state.withLock { $0.bridges[id] = bridge }
    bridge.onClose = { [weak self] in _ = self?.state.withLock { $0.bridges.removeValue(forKey: id) } }
    let deliver = self.deliver
    let inner = pair[1]
    loop.execute {
      bridge.start()
      deliver(inner)
    }
  }

  /// Stops accepting; open bridges close when their plaintext side (the server) closes them.
  package func shutdown() async {
    let listener = state.withLock { state -> SocketListener? in
      state.shuttingDown = true
      defer { state.listener = nil }
      return state.listener
    }
    if let listener { await listener.loop.run { listener.close() } }
  }
}

/// One TLS connection and its plaintext socketpair end. Loop-confined.
final class TLSBridge: @unchecked Sendable {
  // `@unchecked Sendable`: created on the acceptor's loop, then only touched on `loop`.
  private let client: Int32
  private let plain: Int32
  private let loop: EventLoop
  private let tls: TLSSession
  private var toClient = ByteQueue()
  private var toPlain = ByteQueue()
  private var clientEvents: UInt32 = 0
  private var plainEvents: UInt32 = 0
  private var closed = false
  private var plainEOF = false
  private var clientEOF = false
  var onClose: (@Sendable () -> Void)?
  /// Bytes queued for one side before reading the other pauses.
  private let limit = 1 << 20

  init(client: Int32, plain: Int32, loop: EventLoop, tls: TLSSession) {
    self.client = client
    self.plain = plain
    self.loop = loop
    self.tls = tls
  }

  private final class Side: LoopSelectable {
    let bridge: TLSBridge
    let isClient: Bool
    init(_ bridge: TLSBridge, isClient: Bool) {
      self.bridge = bridge
      self.isClient = isClient
    }
    func handleEvents(_ events: UInt32) { bridge.handle(events, client: isClient) }
  }

  func start() {
    do {
      clientEvents = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
      plainEvents = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
      try loop.register(fd: client, events: clientEvents, handler: Side(self, isClient: true))
      try loop.register(fd: plain, events: plainEvents, handler: Side(self, isClient: false))
    } catch {
      close()
    }
  }

  private func handle(_ events: UInt32, client isClient: Bool) {
    if closed { return }
    if events & EPOLLERR.rawValue != 0 {
      close()
      return
    }
    if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue) != 0 {
      if isClient { readClient() } else { readPlain() }
    }
    if closed { return }
    flush()
  }

  private func readClient() {
    guard toPlain.count < limit else { return }
    let scratch = loop.scratch
    for _ in 0..<4 {
      let count = recv(client, scratch.baseAddress, scratch.count, 0)
      if count > 0 {
        tls.feedCiphertext(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
        let outcome = tls.readPlaintext(loop.tlsScratch) { bytes in
          toPlain.append(bytes)
          return true
        }
        tls.drainCiphertext(into: &toClient)
        switch outcome {
        case .more: break
        case .closed:
          clientEOF = true
          Glibc.shutdown(plain, Int32(SHUT_WR))
          return
        case .failed:
          flushClientBestEffort()
          close()
          return
        }
        if count < scratch.count { return }
        continue
      }
      if count == 0 {
        clientEOF = true
        // The client is done sending: tell the server (it answers what it has, then closes).
        Glibc.shutdown(plain, Int32(SHUT_WR))
        return
      }
      let error = errno
      if error == EAGAIN || error == EWOULDBLOCK { return }
      if error == EINTR { continue }
      close()
      return
    }
  }

  private func readPlain() {
    guard toClient.count < limit else { return }
    let scratch = loop.scratch
    for _ in 0..<4 {
      let count = recv(plain, scratch.baseAddress, scratch.count, 0)
      if count > 0 {
        tls.writePlaintext(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
        tls.drainCiphertext(into: &toClient)
        if count < scratch.count { return }
        continue
      }
      if count == 0 {
        // The server closed: close_notify, then close once it is written.
        plainEOF = true
        tls.shutdown()
        tls.drainCiphertext(into: &toClient)
        return
      }
      let error = errno
      if error == EAGAIN || error == EWOULDBLOCK { return }
      if error == EINTR { continue }
      plainEOF = true
      return
    }
  }

  private func flushClientBestEffort() {
    tls.drainCiphertext(into: &toClient)
    if !toClient.isEmpty {
      _ = toClient.withReadableBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
  }

  private func write(_ queue: inout ByteQueue, to fd: Int32) -> Bool {
    while !queue.isEmpty {
      let written = queue.withReadableBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      if written > 0 {
        queue.consume(written)
        continue
      }
      let error = errno
      if written < 0 && (error == EAGAIN || error == EWOULDBLOCK) { return true }
      if written < 0 && error == EINTR { continue }
      return false
    }
    queue = ByteQueue()
    return true
  }

  private func flush() {
    guard write(&toClient, to: client) else {
      close()
      return
    }
    if !write(&toPlain, to: plain) {
      // The server side is gone; what it wrote still goes to the client.
      plainEOF = true
    }
    if plainEOF && toClient.isEmpty {
      close()
      return
    }
    // Read interest (with RDHUP) only while reading that side: a half-closed or paused side
    // must not keep waking the loop.
    var wantClient: UInt32 = 0
    if !clientEOF && toPlain.count < limit { wantClient |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
    if !toClient.isEmpty { wantClient |= EPOLLOUT.rawValue }
    var wantPlain: UInt32 = 0
    if !plainEOF && toClient.count < limit { wantPlain |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
    if !toPlain.isEmpty { wantPlain |= EPOLLOUT.rawValue }
    if wantClient != clientEvents {
      clientEvents = wantClient
      loop.modify(fd: client, events: wantClient)
    }
    if wantPlain != plainEvents {
      plainEvents = wantPlain
      loop.modify(fd: plain, events: wantPlain)
    }
  }

  func close() {
    guard !closed else { return }
    closed = true
    loop.deregister(fd: client)
    loop.deregister(fd: plain)
    Glibc.close(client)
    Glibc.close(plain)
    let callback = onClose
    onClose = nil
    callback?()
  }
}
