import CLinuxShims
import HayonHTTP2
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.1 connection: a socket and a request parser, pinned to an event loop (an actor
/// whose executor is the loop, so every method runs on the loop thread).
///
/// Requests are handled strictly one at a time and in order: the parser is only asked for the
/// next request once the previous response is queued, so responses leave in request order. While
/// a handler runs, pipelined bytes are read ahead only up to `maxReadAhead`; while the client
/// does not read its responses (more than `maxBufferedOutbound` queued), no further request is
/// started and, once the read-ahead is full, nothing more is read.
actor HTTP1Connection {
  private enum Phase {
    /// Reading requests and writing responses.
    case open
    /// Write what is queued, then half-close and linger.
    case closingAfterWrite
    /// Our side is shut down; reading and discarding until the peer closes, so our last response
    /// is not destroyed by a reset caused by unread request bytes.
    case lingering(deadline: UInt64)
    case closed
  }

  nonisolated let loop: EventLoop
  nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

  private let fd: Int32
  private let configuration: HTTP1Server.Configuration
  private let handler: HTTP1Server.Handler
  /// Set by the server the moment shutdown begins, before it reaches this connection: a response
  /// finishing in between already says `Connection: close`.
  private let serverDraining: DrainingFlag
  private var parser: HTTP1RequestParser
  private var outbound = ByteQueue()
  private var phase = Phase.open
  private var registeredEvents: UInt32 = 0
  private var readEOF = false
  private var draining = false
  private var handlerTask: Task<Void, Never>?
  /// The request whose handler is running: what its response must know.
  private var inFlight: (method: String, version: HTTPVersion, keepAlive: Bool)?
  private var servedRequests = 0
  private var lastActivity: UInt64
  private var requestStartedAt: UInt64
  private var lastWriteProgress: UInt64
  private var housekeepingTimer: UInt64?
  private var graceTimer: UInt64?
  private var lingeredBytes = 0
  /// `process` stopped because too much was queued for a client that reads slowly.
  private var heldBack = false
  private var dates = HTTPDateCache()
  private var onClose: (@Sendable () -> Void)?

  init(
    fd: Int32, loop: EventLoop, configuration: HTTP1Server.Configuration, handler: @escaping HTTP1Server.Handler,
    serverDraining: DrainingFlag, onClose: @escaping @Sendable () -> Void
  ) {
    self.serverDraining = serverDraining
    self.onClose = onClose
    self.fd = fd
    self.loop = loop
    self.configuration = configuration
    self.handler = handler
    self.parser = HTTP1RequestParser(configuration: configuration.parser)
    let now = MonotonicClock.now()
    self.lastActivity = now
    self.requestStartedAt = now
    self.lastWriteProgress = now
  }

  // MARK: Start and readiness

  func start() {
    // Shutdown may have closed the connection before it started.
    guard case .open = phase else { return }
    registeredEvents = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
    do {
      try loop.register(fd: fd, events: registeredEvents, handler: HTTP1LoopRegistration(self))
    } catch {
      close()
      return
    }
    scheduleHousekeeping()
  }

  func handleEvents(_ events: UInt32) {
    if case .closed = phase { return }
    if events & EPOLLERR.rawValue != 0 {
      close()
      return
    }
    if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue) != 0 {
      readSocket(peerGone: events & EPOLLHUP.rawValue != 0)
    }
    if case .closed = phase { return }
    if events & EPOLLOUT.rawValue != 0 { writeSocket() }
  }

  /// Reading is wanted while the parser is consuming (its own limits bound what it holds) or
  /// the read-ahead has room.
  private var wantsToRead: Bool {
    switch phase {
    case .open:
      if readEOF || draining && inFlight == nil && parser.isIdle { return false }
      let consuming = inFlight == nil && outbound.count < configuration.maxBufferedOutbound
      return consuming || parser.bufferedByteCount < configuration.maxReadAhead
    case .closingAfterWrite: return false
    case .lingering: return true
    case .closed: return false
    }
  }

  private func readSocket(peerGone: Bool) {
    if case .lingering = phase {
      discardLingering()
      return
    }
    guard wantsToRead else {
      // Level-triggered readiness we are not taking: a peer that is fully gone ends the
      // connection now; otherwise the interest update below stops the wake-ups.
      if peerGone { close() } else { updateInterest() }
      return
    }
    let scratch = loop.scratch
    for _ in 0..<4 {
      // A response may have switched the connection to closing; lingering reads go through
      // `discardLingering` on the next wake-up, never into the parser.
      guard case .open = phase, wantsToRead else { break }
      let count = recv(fd, scratch.baseAddress, scratch.count, 0)
      if count > 0 {
        let now = MonotonicClock.now()
        lastActivity = now
        if parser.isIdle { requestStartedAt = now }
        parser.feed(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
        process()
        if case .closed = phase { return }
        if count < scratch.count { break }
        continue
      }
      if count == 0 {
        readEOF = true
        break
      }
      let error = errno
      if error == EAGAIN || error == EWOULDBLOCK { break }
      if error == EINTR { continue }
      close()
      return
    }
    if readEOF { process() }
    if case .closed = phase { return }
    updateInterest()
  }

  private func discardLingering() {
    let scratch = loop.scratch
    while true {
      let count = recv(fd, scratch.baseAddress, scratch.count, 0)
      if count > 0 {
        lingeredBytes += count
        if lingeredBytes > configuration.maxLingerBytes {
          close()
          return
        }
        continue
      }
      if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
      if count < 0 && errno == EINTR { continue }
      close()  // EOF or error: the peer has everything we sent.
      return
    }
  }

  // MARK: Requests

  /// Takes decisions from the parser while no handler runs and the client keeps up reading.
  private func process() {
    while case .open = phase, inFlight == nil {
      if outbound.count >= configuration.maxBufferedOutbound {
        heldBack = true
        break
      }
      switch parser.next() {
      case .needMoreData:
        if readEOF || (draining && parser.isIdle) {
          // The client finished sending (a partial request is abandoned), or we are shutting
          // down between requests.
          finishAfterWrite()
        }
        flush()
        return
      case .continueExpected:
        // Only reached once every earlier response is queued, so the interim response is in
        // order; the body follows on the same connection.
        startingToQueue()
        outbound.append(HTTP1ResponseEncoder.continueResponse)
      case .request(let message):
        if message.requestsH2CUpgrade, let handoff = configuration.http2Handoff {
          handOff(to: handoff, kind: .h2cUpgrade(message.request))
          return
        }
        startHandler(message)
      case .http2Preface:
        if let handoff = configuration.http2Handoff {
          handOff(to: handoff, kind: .priorKnowledge)
          return
        }
        respondWithError(HTTP1ParseError(status: 505, reason: "HTTP/2 is not served on this port"))
      case .failed(let error):
        respondWithError(error)
      }
    }
    flush()
  }

  private func startHandler(_ message: HTTP1RequestParser.Message) {
    let request = message.request
    inFlight = (request.method, request.version, message.keepAlive)
    servedRequests += 1
    // Unstructured by necessity: the handler's lifetime is the connection's, which the event
    // loop owns; it is cancelled when the connection closes. It prefers the loop's executor so a
    // typical handler runs on this thread and its answer needs no hop.
    handlerTask = Self.spawn(handler, request, connection: self, on: loop.taskExecutor)
  }

  /// Starts the handler's task from a nonisolated context: a closure formed in an actor method
  /// would inherit the actor's isolation and begin with a hop onto the connection only to hop
  /// off again to the handler; this one starts on the loop's task executor directly.
  private nonisolated static func spawn(
    _ handler: @escaping HTTP1Server.Handler, _ request: HTTPRequest, connection: HTTP1Connection,
    on executor: LoopTaskExecutor
  ) -> Task<Void, Never> {
    Task(executorPreference: executor) {
      let response = await handler(request)
      await connection.handlerFinished(response)
    }
  }

  private func handlerFinished(_ response: HTTPResponse) {
    handlerTask = nil
    guard let request = inFlight, case .open = phase else { return }
    inFlight = nil
    let now = MonotonicClock.now()
    lastActivity = now
    requestStartedAt = now
    if response.dropsConnection {
      // Simulated lost answer: whatever is queued goes out, this response never does.
      finishAfterWrite()
      flush()
      return
    }
    startingToQueue()
    let outcome = HTTP1ResponseEncoder.encode(
      response, method: request.method, version: request.version, keepAlive: request.keepAlive && !draining && !serverDraining.isSet,
      date: dates.current(), into: &outbound)
    if outcome.closesConnection { finishAfterWrite() }
    process()
  }

  private func respondWithError(_ error: HTTP1ParseError) {
    let response = HTTP1Server.transportError(status: error.status, reason: error.reason, configuration: configuration)
    startingToQueue()
    _ = HTTP1ResponseEncoder.encode(
      response, method: "GET", version: .http1_1, keepAlive: false, date: dates.current(), into: &outbound)
    finishAfterWrite()
  }

  /// The write timeout measures how long queued bytes wait, so it starts when the queue fills
  /// from empty, not at the last write of an earlier response.
  private func startingToQueue() {
    if outbound.isEmpty { lastWriteProgress = MonotonicClock.now() }
  }

  private func finishAfterWrite() {
    if case .open = phase { phase = .closingAfterWrite }
  }

  // MARK: Hand-off (the HTTP/2 seam)

  private func handOff(to handoff: any HTTP1ProtocolHandoff, kind: HTTP1HandedOffConnection.Kind) {
    // Nothing of ours may still be queued: responses to earlier requests go out first.
    flush()
    guard outbound.isEmpty, case .open = phase else {
      respondWithError(HTTP1ParseError(status: 503, reason: "the connection could not switch protocols"))
      flush()
      return
    }
    let pending = parser.bufferedBytes()
    phase = .closed
    stopTimers()
    loop.deregister(fd: fd)
    let callback = onClose
    onClose = nil
    callback?()
    handoff.adopt(HTTP1HandedOffConnection(fd: fd, loop: loop, bufferedBytes: pending, kind: kind))
  }

  // MARK: Writing

  private func flush() {
    writeSocket()
  }

  private func writeSocket() {
    while !outbound.isEmpty {
      let written = outbound.withReadableBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      if written > 0 {
        outbound.consume(written)
        let now = MonotonicClock.now()
        lastWriteProgress = now
        lastActivity = now
        continue
      }
      let error = errno
      if written < 0 && (error == EAGAIN || error == EWOULDBLOCK) { break }
      if written < 0 && error == EINTR { continue }
      close()
      return
    }
    if outbound.isEmpty {
      // Drop the storage: an idle keep-alive connection must not pin its largest response.
      outbound = ByteQueue()
      switch phase {
      case .closingAfterWrite:
        // Half-close: the client sees the end of our responses, while we read (and drop) what it
        // still sends, so the kernel does not answer it with a reset that could destroy the
        // response before the client read it.
        Glibc.shutdown(fd, Int32(SHUT_WR))
        phase = .lingering(deadline: MonotonicClock.now() &+ configuration.lingerTimeout.saturatingNanoseconds)
        discardLingering()
        if case .closed = phase { return }
      case .open:
        // Room again: a request held back by back-pressure may start.
        if heldBack {
          heldBack = false
          process()
          return
        }
      default:
        break
      }
    }
    updateInterest()
  }

  private func updateInterest() {
    if case .closed = phase { return }
    var events: UInt32 = 0
    if wantsToRead { events |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
    if !outbound.isEmpty { events |= EPOLLOUT.rawValue }
    if events != registeredEvents {
      registeredEvents = events
      loop.modify(fd: fd, events: events)
    }
  }

  // MARK: Timeouts

  private func scheduleHousekeeping() {
    let shortest = [
      configuration.headerReadTimeout, configuration.bodyReadTimeout, configuration.idleTimeout,
      configuration.writeTimeout,
    ].min()!
    // Timeouts fire up to a quarter late; the linger deadline is checked on the same beat.
    let interval = max(min(shortest.saturatingNanoseconds / 4, 1_000_000_000), 2_000_000)
    housekeepingTimer = loop.scheduleTimer(afterNanoseconds: interval) { [self] in
      assumeIsolated { $0.housekeeping() }
    }
  }

  private func housekeeping() {
    housekeepingTimer = nil
    let now = MonotonicClock.now()
    switch phase {
    case .closed:
      return
    case .lingering(let deadline):
      if now >= deadline {
        close()
        return
      }
    case .open, .closingAfterWrite:
      if !outbound.isEmpty {
        // A client that stopped reading: its queued responses are not kept forever, neither
        // here nor in the kernel's send buffer (hence a reset, not a graceful close).
        if now &- lastWriteProgress > configuration.writeTimeout.saturatingNanoseconds {
          abort()
          return
        }
      } else if inFlight == nil, case .open = phase {
        if parser.isIdle {
          let limit = servedRequests == 0 ? configuration.headerReadTimeout : configuration.idleTimeout
          if now &- lastActivity > limit.saturatingNanoseconds {
            close()
            return
          }
        } else {
          let limit = parser.isReadingHead ? configuration.headerReadTimeout : configuration.bodyReadTimeout
          if now &- requestStartedAt > limit.saturatingNanoseconds {
            respondWithError(HTTP1ParseError(status: 408, reason: "the request was not received in time"))
            flush()
            if case .closed = phase { return }
          }
        }
      }
    }
    scheduleHousekeeping()
  }

  private func stopTimers() {
    if let timer = housekeepingTimer { loop.cancelTimer(timer) }
    if let timer = graceTimer { loop.cancelTimer(timer) }
    housekeepingTimer = nil
    graceTimer = nil
  }

  // MARK: Shutdown

  /// Stops taking new requests: an idle connection closes now; a running handler finishes and
  /// its response closes the connection. After `gracePeriod` everything left is closed.
  func beginGracefulShutdown(gracePeriod: Duration) {
    guard !draining else { return }
    if case .closed = phase { return }
    draining = true
    graceTimer = loop.scheduleTimer(afterNanoseconds: gracePeriod.saturatingNanoseconds) { [self] in
      assumeIsolated { $0.close() }
    }
    if case .open = phase, inFlight == nil, parser.isIdle, outbound.isEmpty {
      close()
      return
    }
    if case .open = phase, inFlight == nil { process() }
    updateInterest()
  }

  /// Closes with a reset: unsent bytes are discarded instead of lingering in the kernel.
  private func abort() {
    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    close()
  }

  func close() {
    if case .closed = phase { return }
    phase = .closed
    stopTimers()
    handlerTask?.cancel()
    handlerTask = nil
    inFlight = nil
    loop.deregister(fd: fd)
    Glibc.close(fd)
    outbound = ByteQueue()
    let callback = onClose
    onClose = nil
    callback?()
  }
}

/// A flag set once, read from any loop.
final class DrainingFlag: Sendable {
  private let value = Atomic<Bool>(false)
  func set() { value.store(true, ordering: .releasing) }
  var isSet: Bool { value.load(ordering: .acquiring) }
}

/// The loop's registration entry; holding the connection strongly keeps it alive until it
/// deregisters on close.
final class HTTP1LoopRegistration: LoopSelectable {
  let connection: HTTP1Connection
  init(_ connection: HTTP1Connection) { self.connection = connection }
  func handleEvents(_ events: UInt32) {
    connection.assumeIsolated { $0.handleEvents(events) }
  }
}

/// A connection the HTTP/1.1 server gives away because the client speaks HTTP/2 (the seam for a
/// gateway serving both on one port). The receiver owns `fd` from then on, on `loop`.
package struct HTTP1HandedOffConnection: Sendable {
  package enum Kind: Sendable {
    /// The client sent the HTTP/2 preface first; `bufferedBytes` starts with it.
    case priorKnowledge
    /// The client asked for `Upgrade: h2c` with this request. The receiver answers
    /// `101 Switching Protocols`, then serves the request as HTTP/2 stream 1 (RFC 7540 §3.2).
    case h2cUpgrade(HTTPRequest)
  }

  package var fd: Int32
  package var loop: EventLoop
  /// Bytes read from the socket and not consumed by HTTP/1.1.
  package var bufferedBytes: [UInt8]
  package var kind: Kind
}

/// Takes over connections that switch to HTTP/2. Called on the connection's loop thread, once
/// the connection is deregistered and nothing of HTTP/1.1 is left to write. Without one, the
/// HTTP/2 preface is answered 505 and `Upgrade: h2c` is ignored (RFC 9110 §7.8).
package protocol HTTP1ProtocolHandoff: Sendable {
  func adopt(_ connection: HTTP1HandedOffConnection)
}
