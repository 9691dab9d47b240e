import CLinuxShims
import CNghttp2
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A Sendable handle on one stream. Its async methods hop onto the connection's loop.
public struct HTTP2StreamHandle: Sendable, Hashable {
  public let connection: HTTP2Connection
  public let id: Int32

  public static func == (lhs: Self, rhs: Self) -> Bool { lhs.connection === rhs.connection && lhs.id == rhs.id }
  public func hash(into hasher: inout Hasher) {
    hasher.combine(ObjectIdentifier(connection))
    hasher.combine(id)
  }

  /// Sends a complete response (or, for a client, nothing: use `openStream`).
  public func respond(headers: [HTTP2Header], body: [UInt8], trailers: [HTTP2Header]?) async {
    let reply = HTTP2StreamReply.respond(headers: headers, body: body, trailers: trailers)
    // Handlers usually run on the connection's own loop (their task prefers it); then there is
    // no need to queue a job to reach the connection.
    if connection.loop.inLoop {
      connection.assumeIsolatedOnLoop((reply, id)) { $0.perform($1.0, on: $1.1) }
    } else {
      await connection.perform(reply, on: id)
    }
  }

  /// Sends the response header block; the body follows with `write` and ends with `finish`.
  public func sendHeaders(_ headers: [HTTP2Header]) async throws(HTTP2StreamError) {
    try await connection.sendHeaders(headers, on: id)
  }

  /// Queues body bytes, waiting while the stream already holds too many unsent bytes (the peer is
  /// reading slowly or its flow-control window is closed).
  public func write(_ bytes: [UInt8]) async throws(HTTP2StreamError) {
    try await connection.write(bytes, on: id)
  }

  /// Ends the stream after the queued body, with trailers when given.
  public func finish(trailers: [HTTP2Header]?) async {
    if connection.loop.inLoop {
      connection.assumeIsolatedOnLoop((trailers, id)) { $0.finish(trailers: $1.0, on: $1.1) }
    } else {
      await connection.finish(trailers: trailers, on: id)
    }
  }

  /// RST_STREAM.
  public func reset(_ code: HTTP2ErrorCode) async {
    await connection.perform(.reset(code), on: id)
  }
}

/// One HTTP/2 connection: a socket, an optional TLS session and one nghttp2 session, pinned to an
/// event loop. Every method runs on that loop's thread.
public actor HTTP2Connection {
  enum Role { case server, client }

  enum ReceivedFrame {
    case headers(endStream: Bool)
    case data(endStream: Bool)
    case settings
    case goaway(lastStreamID: Int32)
    case ping(ack: Bool)
    case other
  }

  /// Per-stream state, inbound and outbound. A class so the hot callbacks mutate it in place
  /// instead of copying it in and out of the dictionary.
  final class StreamState {
    var delegate: (any HTTP2StreamDelegate)?
    var remoteEnded = false
    var localEnded = false
    var openedAt: UInt64
    // Outbound body.
    var outbound = ByteQueue()
    var responseSubmitted = false
    var finishing = false
    var trailers: [HTTP2Header]?
    var deferred = false
    var writers: [CheckedContinuation<Void, any Error>] = []
    var deadlineTimer: UInt64?
    var timedOut = false
    /// Client: received bytes not yet released to the flow-control window (reading is paused).
    var heldBytes = 0
    var readingPaused = false
    /// Whether body bytes went to nghttp2 since the last housekeeping pass, and since when a
    /// stream with bytes queued has shown no progress (0: it has).
    var sentSinceHousekeeping = false
    var stalledSince: UInt64 = 0

    init(openedAt: UInt64) { self.openedAt = openedAt }

    /// As new, for another stream.
    func reset(openedAt: UInt64) {
      delegate = nil
      remoteEnded = false
      localEnded = false
      self.openedAt = openedAt
      outbound = ByteQueue()
      responseSubmitted = false
      finishing = false
      trailers = nil
      deferred = false
      writers = []
      deadlineTimer = nil
      timedOut = false
      heldBytes = 0
      readingPaused = false
      sentSinceHousekeeping = false
      stalledSince = 0
    }
  }

  /// States of closed streams, kept for the next ones: a connection opens and closes a stream
  /// per call, and reusing the state spares its allocation and teardown each time.
  private var spareStates: [StreamState] = []
  private static let maxSpareStates = 16

  private func makeStreamState() -> StreamState {
    let now = MonotonicClock.now()
    guard let state = spareStates.popLast() else { return StreamState(openedAt: now) }
    state.reset(openedAt: now)
    return state
  }

  /// Keeps a closed stream's state for reuse, unless something still holds it (a writer
  /// waiting for room, say), which will find its stream gone by id.
  private func recycle(_ state: inout StreamState) {
    guard spareStates.count < Self.maxSpareStates, isKnownUniquelyReferenced(&state) else { return }
    state.delegate = nil
    state.trailers = nil
    state.outbound = ByteQueue()
    spareStates.append(state)
  }

  nonisolated public let loop: EventLoop
  nonisolated let role: Role
  nonisolated let configuration: HTTP2ConnectionConfiguration
  nonisolated public var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

  private let fd: Int32
  private let tls: TLSSession?
  private var session: OpaquePointer?
  /// The session's memory; lives as long as the connection, so longer than the session.
  private let memoryPool = SessionMemoryPool()
  private var streams = StreamTable<StreamState>()
  /// The stream whose header block is being received (0: none, or one we do not track).
  /// nghttp2 delivers a block's fields one callback each and never interleaves blocks, so the
  /// per-field callback checks this number and its size accounting below, and touches no stream
  /// state: no dictionary lookup, no reference counting per field.
  private var headerBlockStreamID: Int32 = 0
  private var headerBlockState: StreamState?
  /// The block's size as RFC 9113 counts it (name + value + 32 per field), and whether it went
  /// past `maxHeaderListSize` (fields past the limit are dropped).
  private var headerBlockBytes = 0
  private var headerBlockTooLarge = false
  /// The block in progress opens a request (server role): the acceptor's field reader, if it
  /// has one, reads it.
  private var headerBlockIsNewRequest = false
  /// The fields of that block, so far. One buffer for the connection, kept between blocks, so a
  /// request's fields cost no allocation unless a delegate keeps the array.
  private var headerBlock: [HTTP2Header] = []
  private var nameValues = NameValueCache()
  private var headerNames = HeaderTextCache()
  private var headerValues = HeaderTextCache()
  private var socketOut = ByteQueue()
  private var plainOut = ByteQueue()
  private var registeredEvents: UInt32 = 0
  private var closed = false
  private var prefaceReceived = false
  /// An h2c upgrade request waiting for the client's preface (see `startAdopted`).
  private var pendingUpgrade: HTTP2Upgrade?
  private var lastActivity: UInt64
  private var housekeepingTimer: UInt64?
  private var goawayReceived = false
  private var draining = false
  private var drainDeadlineTimer: UInt64?
  private var readPaused = false
  private var flushScheduled = false
  /// Body bytes queued across all streams, not yet handed to nghttp2.
  private var bufferedBodyBytes = 0
  /// Writers waiting because the connection as a whole holds too much.
  private var connectionWriters: [CheckedContinuation<Void, any Error>] = []
  private let acceptor: (any HTTP2StreamAcceptor)?
  /// Owns the acceptor's field reader; `requestFieldReader` is the same object, borrowed, so
  /// the call for each header field retains and releases nothing.
  private let requestFieldReaderOwner: HTTP2RequestFieldReader?
  private let requestFieldReader: Unmanaged<HTTP2RequestFieldReader>?
  private var onClose: [@Sendable () -> Void] = []
  private var connectContinuation: CheckedContinuation<Void, any Error>?
  private var connecting = false
  private var closeWaiters: [CheckedContinuation<Void, Never>] = []

  /// False once the connection can carry no new streams (closed, draining, or told to go away).
  /// Readable from any thread, so a pool can check it without hopping onto the loop.
  public nonisolated var isUsable: Bool { usable.load(ordering: .acquiring) }
  private nonisolated let usable = Atomic<Bool>(true)
  /// Streams currently open.
  public var openStreamCount: Int { streams.count }

  init(
    fd: Int32, loop: EventLoop, role: Role, tls: TLSSession?, acceptor: (any HTTP2StreamAcceptor)?,
    configuration: HTTP2ConnectionConfiguration
  ) {
    self.fd = fd
    self.loop = loop
    self.role = role
    self.tls = tls
    self.acceptor = acceptor
    let requestFieldReader = acceptor?.makeRequestFieldReader()
    self.requestFieldReaderOwner = requestFieldReader
    self.requestFieldReader = requestFieldReader.map { Unmanaged.passUnretained($0) }
    self.configuration = configuration
    self.lastActivity = MonotonicClock.now()
  }

  // MARK: Start

  /// Creates the nghttp2 session, sends our SETTINGS and starts reading. Loop thread.
  func start(onClose: (@Sendable () -> Void)?) {
    if let onClose { self.onClose.append(onClose) }
    let option = makeOption()
    defer { nghttp2_option_del(option) }
    let userData = Unmanaged.passUnretained(self).toOpaque()
    var session: OpaquePointer?
    var allocator = memoryPool.nghttp2Allocator
    let status =
      role == .server
      ? nghttp2_session_server_new3(&session, NGHTTP2CallbacksTable.shared.pointer, userData, option, &allocator)
      : nghttp2_session_client_new3(&session, NGHTTP2CallbacksTable.shared.pointer, userData, option, &allocator)
    guard status == 0, let session else {
      close()
      return
    }
    self.session = session
    let settings: [nghttp2_settings_entry] = [
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
        value: UInt32(configuration.maxConcurrentStreams)),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
        value: UInt32(configuration.initialWindowSize)),
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
        value: UInt32(configuration.maxHeaderListSize)),
      // RFC 9218: we use no RFC 7540 priority tree (gRPC never signals one), so nghttp2 need
      // not build it or keep closed streams around for it.
      nghttp2_settings_entry(
        settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
    ]
    nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), settings, settings.count)
    nghttp2_session_set_local_window_size(
      session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(configuration.connectionWindowSize))
    if role == .client, let tls { _ = tls.handshake() }
    do {
      registeredEvents = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
      if connecting { registeredEvents |= EPOLLOUT.rawValue }
      try loop.register(fd: fd, events: registeredEvents, handler: LoopRegistration(self))
    } catch {
      close()
      return
    }
    scheduleHousekeeping()
    if !connecting { flush() }
  }

  // MARK: Adoption (a connection taken over from an HTTP/1.1 server on the same port)

  /// A server connection for a socket another server accepted (the HTTP/1.1 server hands over
  /// connections that speak HTTP/2). Start it with `startAdopted` on `loop`.
  package static func adoptedServer(
    fd: Int32, loop: EventLoop, acceptor: any HTTP2StreamAcceptor, configuration: HTTP2ConnectionConfiguration
  ) -> HTTP2Connection {
    HTTP2Connection(fd: fd, loop: loop, role: .server, tls: nil, acceptor: acceptor, configuration: configuration)
  }

  /// Starts an adopted connection on its loop: `initialBytes` are what the previous owner read
  /// and did not consume (for prior knowledge, the client preface onwards). With `upgrade`, the
  /// `101 Switching Protocols` goes out first, then our SETTINGS, and the upgrade request is
  /// delivered to the acceptor as stream 1 (RFC 7540 §3.2), half-closed by the client, once the
  /// client's preface has arrived.
  package func startAdopted(
    initialBytes: [UInt8], upgrade: HTTP2Upgrade?, onClose: (@Sendable () -> Void)?
  ) {
    if upgrade != nil {
      socketOut.append(Array("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".utf8))
    }
    start(onClose: onClose)
    guard !closed, let session else { return }
    if let upgrade {
      let status = upgrade.settingsPayload.withUnsafeBufferPointer {
        nghttp2_session_upgrade2(session, $0.baseAddress, $0.count, upgrade.isHead ? 1 : 0, nil)
      }
      guard status == 0 else {
        close()
        return
      }
      let state = StreamState(openedAt: MonotonicClock.now())
      state.remoteEnded = true
      streams[1] = state
      // Stream 1 is answered once the client's preface (its SETTINGS) arrives, not now: a client
      // sends the preface only after it has read the 101 and switched to HTTP/2, and one that
      // reads the 101 into a fixed buffer (curl 7.x: 32 KiB) fails when a fast, large response
      // arrives in the same read ("connection buffer size is too small ... HTTP Upgrade").
      pendingUpgrade = upgrade
    }
    if !initialBytes.isEmpty {
      let accepted = initialBytes.withUnsafeBytes { receive($0) }
      if !accepted {
        close()
        return
      }
    }
    flush()
  }

  /// Hands the HTTP/1.1 upgrade request to the acceptor as stream 1.
  private func deliverUpgradedRequest(_ upgrade: HTTP2Upgrade) {
    guard let acceptor, let state = streams[1] else { return }
    let handle = HTTP2StreamHandle(connection: self, id: 1)
    let head = HTTP2RequestHead(
      headers: upgrade.headers, endStream: upgrade.body.isEmpty, headerListTooLarge: false, isSecure: false)
    let (delegate, reply) = acceptor.accept(head, stream: handle)
    state.delegate = delegate
    if let reply { apply(reply, on: 1) }
    if let delegate, streams[1] != nil, !upgrade.body.isEmpty {
      let reply = upgrade.body.withUnsafeBytes { delegate.receive(.data($0), stream: handle) }
      if let reply { apply(reply, on: 1) }
    }
    if let delegate, streams[1] != nil, let reply = delegate.receive(.end, stream: handle) {
      apply(reply, on: 1)
    }
  }

  private func makeOption() -> OpaquePointer {
    var option: OpaquePointer?
    nghttp2_option_new(&option)
    nghttp2_option_set_max_send_header_block_length(option, 64 * 1024)
    // Closed streams are forgotten at once (they are only kept for the priority tree).
    nghttp2_option_set_no_closed_streams(option, 1)
    // Until the peer's SETTINGS arrive, assume it accepts as many streams as we do.
    nghttp2_option_set_peer_max_concurrent_streams(option, UInt32(configuration.maxConcurrentStreams))
    if role == .client {
      // The caller decides when received bytes are released (see `updateReadingPaused`), so a
      // slow consumer holds the server to the flow-control window instead of buffering.
      nghttp2_option_set_no_auto_window_update(option, 1)
    }
    return option!
  }

  /// Client: resumes once connect (and the TLS handshake with ALPN h2) completed.
  func waitUntilConnected() async throws {
    // Closed while starting (registration failed): `connecting` is still set, but nothing will
    // ever resume a continuation stored now.
    if closed { throw HTTP2StreamError.connectionClosed }
    guard connecting else { return }
    try await withCheckedThrowingContinuation { connectContinuation = $0 }
  }

  func markConnecting() { connecting = true }

  // MARK: Readiness

  func handleEvents(_ events: UInt32) {
    if closed { return }
    if connecting && events & (EPOLLOUT.rawValue | EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
      let error = Sockets.connectResult(fd)
      if error != 0 {
        failConnect(SocketError(call: "connect", errno: error))
        return
      }
      connectionEstablished()
    }
    if events & EPOLLIN.rawValue != 0 || events & (EPOLLHUP.rawValue | EPOLLRDHUP.rawValue | EPOLLERR.rawValue) != 0 {
      if !readPaused { readSocket() }
    }
    if closed { return }
    if events & EPOLLOUT.rawValue != 0 {
      writeSocket()
      flush()
    }
  }

  private func connectionEstablished() {
    connecting = false
    lastActivity = MonotonicClock.now()
    if tls == nil {
      resumeConnect(nil)
    }
    flush()
  }

  private func resumeConnect(_ error: (any Error)?) {
    guard let continuation = connectContinuation else { return }
    connectContinuation = nil
    if let error { continuation.resume(throwing: error) } else { continuation.resume() }
  }

  private func failConnect(_ error: any Error) {
    resumeConnect(error)
    close()
  }

  private func readSocket() {
    let scratch = loop.scratch
    // A few reads per wake-up keeps one busy connection from starving the others.
    for _ in 0..<4 {
      let count = recv(fd, scratch.baseAddress, scratch.count, 0)
      if count > 0 {
        lastActivity = MonotonicClock.now()
        let bytes = UnsafeRawBufferPointer(rebasing: scratch[0..<count])
        if !receive(bytes) { close(); return }
        if closed { return }
        if count < scratch.count { break }
        continue
      }
      if count == 0 {
        close()
        return
      }
      let error = errno
      if error == EAGAIN || error == EWOULDBLOCK || error == EINTR { break }
      close()
      return
    }
    flush()
  }

  /// Feeds bytes from the socket through TLS (when present) into nghttp2.
  private func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
    guard let tls else { return feedSession(bytes) }
    tls.feedCiphertext(bytes)
    let plain = loop.tlsScratch
    let wasComplete = tls.handshakeComplete
    let outcome = tls.readPlaintext(plain) { feedSession($0) }
    if !wasComplete && tls.handshakeComplete {
      if tls.negotiatedProtocol != "h2" {
        failConnect(HTTP2StreamError.protocolFailure("peer did not negotiate h2 with ALPN"))
        return false
      }
      resumeConnect(nil)
    }
    switch outcome {
    case .more: return true
    case .closed: return false
    case .failed(let reason):
      failConnect(HTTP2StreamError.protocolFailure("TLS: \(reason)"))
      return false
    }
  }

  private func feedSession(_ bytes: UnsafeRawBufferPointer) -> Bool {
    guard let session else { return false }
    let consumed = nghttp2_session_mem_recv(session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
    // A negative result (bad preface, protocol error, flood) or a short read is fatal; nghttp2
    // has queued a GOAWAY, which `close` tries to send.
    return consumed == bytes.count
  }

  /// Flushes at the end of the loop iteration, so responses finished in the same iteration share
  /// one write.
  private func scheduleFlush() {
    guard !flushScheduled else { return }
    flushScheduled = true
    loop.runWhenIdle(self)
  }

  /// Pulls frames out of nghttp2 (within the outbound limit) and writes them.
  func flush() {
    guard let session, !closed, !connecting else { return }
    while socketOut.count + plainOut.count < configuration.maxBufferedOutbound {
      var pointer: UnsafePointer<UInt8>?
      let count = nghttp2_session_mem_send(session, &pointer)
      if count < 0 {
        close()
        return
      }
      if count == 0 { break }
      let bytes = UnsafeRawBufferPointer(start: pointer, count: count)
      if tls != nil { plainOut.append(bytes) } else { socketOut.append(bytes) }
    }
    if let tls {
      if !plainOut.isEmpty {
        plainOut.withReadableBytes { tls.writePlaintext($0) }
        plainOut.consume(plainOut.count)
      }
      tls.drainCiphertext(into: &socketOut)
    }
    writeSocket()
    if closed { return }
    if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 && socketOut.isEmpty {
      close()
    }
  }

  private func writeSocket() {
    while !socketOut.isEmpty {
      let written = socketOut.withReadableBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      if written > 0 {
        socketOut.consume(written)
        continue
      }
      let error = errno
      if written < 0 && (error == EAGAIN || error == EWOULDBLOCK) { break }
      if written < 0 && error == EINTR { continue }
      close()
      return
    }
    updateInterest()
  }

  /// Wants EPOLLOUT while bytes wait for the socket; stops reading while the outbound queue is
  /// full, so a peer that never reads cannot make us buffer without bound.
  private func updateInterest() {
    let full = socketOut.count >= configuration.maxBufferedOutbound
    readPaused = full
    var events = EPOLLRDHUP.rawValue
    if !full { events |= EPOLLIN.rawValue }
    if !socketOut.isEmpty || connecting { events |= EPOLLOUT.rawValue }
    if events != registeredEvents {
      registeredEvents = events
      loop.modify(fd: fd, events: events)
    }
  }

  // MARK: Close

  /// Closes the socket and fails every open stream. Never called from inside an nghttp2 callback.
  func close() {
    guard !closed else { return }
    closed = true
    usable.store(false, ordering: .releasing)
    if let timer = housekeepingTimer { loop.cancelTimer(timer) }
    if let timer = drainDeadlineTimer { loop.cancelTimer(timer) }
    if let session {
      // Best effort: let a queued GOAWAY reach the peer.
      var pointer: UnsafePointer<UInt8>?
      var budget = 64 * 1024
      while budget > 0 {
        let count = nghttp2_session_mem_send(session, &pointer)
        if count <= 0 { break }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: count)
        if let tls { tls.writePlaintext(bytes) } else { socketOut.append(bytes) }
        budget -= count
      }
    }
    if let tls {
      tls.shutdown()
      tls.drainCiphertext(into: &socketOut)
    }
    if !socketOut.isEmpty {
      _ = socketOut.withReadableBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
    loop.deregister(fd: fd)
    Glibc.close(fd)
    let open = streams
    streams.removeAll()
    for (_, state) in open {
      for writer in state.writers { writer.resume(throwing: HTTP2StreamError.connectionClosed) }
      state.delegate?.closed(.connectionClosed)
    }
    bufferedBodyBytes = 0
    // What was kept for the next stream has no use now; a closed connection may still be held
    // (by a caller's handle, a close callback) for a while.
    spareStates.removeAll()
    nameValues = NameValueCache()
    let waiting = connectionWriters
    connectionWriters.removeAll()
    for writer in waiting { writer.resume(throwing: HTTP2StreamError.connectionClosed) }
    if let session {
      self.session = nil
      nghttp2_session_del(session)
      // nghttp2 frees everything it allocated with the session (debug builds, so every test
      // that closes a connection, check the pool agrees).
      assert(memoryPool.outstanding == 0, "nghttp2 left \(memoryPool.outstanding) blocks allocated")
      memoryPool.drain()
    }
    resumeConnect(HTTP2StreamError.connectionClosed)
    let callbacks = onClose
    onClose.removeAll()
    for callback in callbacks { callback() }
    let waiters = closeWaiters
    closeWaiters.removeAll()
    for waiter in waiters { waiter.resume() }
  }

  /// Suspends until the connection has closed.
  public func waitUntilClosed() async {
    if closed { return }
    await withCheckedContinuation { closeWaiters.append($0) }
  }

  /// Adds a callback run (on the loop) when the connection closes.
  func addCloseCallback(_ callback: @escaping @Sendable () -> Void) {
    if closed { callback() } else { onClose.append(callback) }
  }

  /// Graceful close: GOAWAY now (no new streams), let open streams finish, and close when they
  /// have, or when `gracePeriod` runs out, whichever is first.
  public func beginGracefulShutdown(gracePeriod: Duration) {
    guard !closed, !draining, let session else { return }
    draining = true
    usable.store(false, ordering: .releasing)
    nghttp2_submit_goaway(
      session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
      NGHTTP2_NO_ERROR.rawValue, nil, 0)
    drainDeadlineTimer = loop.scheduleTimer(afterNanoseconds: gracePeriod.saturatingNanoseconds) { [self] in
      assumeIsolated { $0.close() }
    }
    flush()
    closeIfDrained()
  }

  private func closeIfDrained() {
    if draining && streams.isEmpty && !closed {
      if let session { nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR.rawValue) }
      flush()
      close()
    }
  }

  // MARK: Housekeeping timers

  private func scheduleHousekeeping() {
    let shortest = min(
      configuration.handshakeTimeout, configuration.idleTimeout, configuration.requestReceiveTimeout,
      configuration.sendStallTimeout)
    let interval = max(min(shortest.saturatingNanoseconds / 4, 1_000_000_000), 5_000_000)
    housekeepingTimer = loop.scheduleTimer(afterNanoseconds: interval) { [self] in
      assumeIsolated { $0.housekeeping() }
    }
  }

  private func housekeeping() {
    guard !closed else { return }
    let now = MonotonicClock.now()
    if (!prefaceReceived || connecting) && now &- lastActivity > configuration.handshakeTimeout.saturatingNanoseconds {
      // A connect that never completes, a stalled TLS handshake, garbage or a peer that never
      // sends its SETTINGS: give up on it (a client's waiting calls fail as UNAVAILABLE).
      failConnect(HTTP2StreamError.protocolFailure("handshake timed out"))
      return
    }
    if streams.isEmpty && now &- lastActivity > configuration.idleTimeout.saturatingNanoseconds {
      beginGracefulShutdown(gracePeriod: .seconds(1))
      return
    }
    if role == .server, let session {
      let limit = configuration.requestReceiveTimeout.saturatingNanoseconds
      for (id, state) in streams where !state.remoteEnded && now &- state.openedAt > limit {
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_CANCEL.rawValue)
      }
      flush()
    }
    resetStalledStreams(now: now)
    scheduleHousekeeping()
  }

  /// Resets streams whose queued body has not moved for `sendStallTimeout`, and closes the
  /// connection when such a stream outlives twice that (the reset itself could not be sent).
  /// Progress is a flag `readData` sets and each pass clears, so sending reads no clock; a
  /// stall is noticed within one pass of the limit.
  private func resetStalledStreams(now: UInt64) {
    guard let session else { return }
    let limit = configuration.sendStallTimeout.saturatingNanoseconds
    let closeLimit = limit > UInt64.max / 2 ? UInt64.max : limit * 2
    var resetAny = false
    for (id, state) in streams {
      guard !state.outbound.isEmpty, !state.sentSinceHousekeeping else {
        state.sentSinceHousekeeping = false
        state.stalledSince = 0
        continue
      }
      if state.stalledSince == 0 {
        state.stalledSince = now
      } else if now &- state.stalledSince > closeLimit {
        // Reset a whole limit ago and still here: not even the RST_STREAM left, because the
        // peer stopped reading the socket. Only closing the connection frees its buffers.
        close()
        return
      } else if now &- state.stalledSince > limit {
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_CANCEL.rawValue)
        resetAny = true
      }
    }
    if resetAny { flush() }
  }

  // MARK: Callbacks from nghttp2 (on the loop, inside mem_recv/mem_send)

  func beginHeaders(streamID: Int32, isRequest: Bool) -> Int32 {
    headerBlock.removeAll(keepingCapacity: true)
    headerBlockIsNewRequest = isRequest && role == .server
    headerBlockBytes = 0
    headerBlockTooLarge = false
    if headerBlockIsNewRequest, let requestFieldReader { requestFieldReader._withUnsafeGuaranteedRef { $0.reset() } }
    if isRequest && role == .server {
      let state = makeStreamState()
      streams[streamID] = state
      headerBlockStreamID = streamID
      headerBlockState = state
    } else if let state = streams[streamID] {
      headerBlockStreamID = streamID
      headerBlockState = state
    } else {
      endHeaderBlock()
    }
    return 0
  }

  private func endHeaderBlock() {
    headerBlockStreamID = 0
    headerBlockState = nil
    headerBlockIsNewRequest = false
  }

  func header(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Int32 {
    // nghttp2 never interleaves header blocks, so a field always belongs to the current one.
    guard streamID == headerBlockStreamID, streamID != 0 else { return 0 }
    headerBlockBytes += name.count + value.count + 32
    if headerBlockBytes > configuration.maxHeaderListSize {
      headerBlockTooLarge = true
      return 0
    }
    if headerBlockIsNewRequest, let requestFieldReader {
      requestFieldReader._withUnsafeGuaranteedRef { $0.read(name: name, value: value) }
      return 0
    }
    headerBlock.append(HTTP2Header(headerNames.text(for: name), headerValues.text(for: value)))
    return 0
  }

  func dataChunk(streamID: Int32, bytes: UnsafeRawBufferPointer) -> Int32 {
    guard let state = streams[streamID] else {
      if role == .client, let session { nghttp2_session_consume_connection(session, bytes.count) }
      return 0
    }
    if let delegate = state.delegate {
      let handle = HTTP2StreamHandle(connection: self, id: streamID)
      if let reply = delegate.receive(.data(bytes), stream: handle) { apply(reply, on: streamID) }
    }
    if role == .client, let session {
      if state.readingPaused {
        state.heldBytes += bytes.count
      } else {
        nghttp2_session_consume(session, streamID, bytes.count)
      }
    }
    return 0
  }

  /// Client: while the reader wants a pause, received DATA is not acknowledged with
  /// WINDOW_UPDATE, so the peer stops once the stream's window is used up. `wantsPause` is the
  /// reader's current wish, evaluated on the loop when the update runs: a queued update that runs
  /// late applies the latest wish instead of undoing a newer one. On the loop (a data callback
  /// that just crossed the reader's limit) it applies at once, before the next chunk is consumed.
  public nonisolated func updateReadingPaused(streamID: Int32, _ wantsPause: @escaping @Sendable () -> Bool) {
    if loop.inLoop {
      assumeIsolatedOnLoop((wantsPause, streamID)) { $0.applyReadingPaused($1.0(), streamID: $1.1) }
    } else {
      loop.execute { [self] in
        assumeIsolated { $0.applyReadingPaused(wantsPause(), streamID: streamID) }
      }
    }
  }

  private func applyReadingPaused(_ paused: Bool, streamID: Int32) {
    guard let state = streams[streamID], let session else { return }
    state.readingPaused = paused
    if !paused && state.heldBytes > 0 {
      nghttp2_session_consume(session, streamID, state.heldBytes)
      state.heldBytes = 0
      scheduleFlush()
    }
  }

  func frameReceived(_ frame: ReceivedFrame, streamID: Int32) -> Int32 {
    switch frame {
    case .settings:
      prefaceReceived = true
      if let upgrade = pendingUpgrade {
        pendingUpgrade = nil
        deliverUpgradedRequest(upgrade)
      }
    case .goaway:
      goawayReceived = true
      usable.store(false, ordering: .releasing)
    case .ping, .other:
      break
    case .headers(let endStream):
      let cached = headerBlockStreamID == streamID ? headerBlockState : nil
      let tooLarge = headerBlockTooLarge
      let opensRequest = headerBlockIsNewRequest
      endHeaderBlock()
      guard let state = cached ?? streams[streamID] else { return 0 }
      if endStream { state.remoteEnded = true }
      let headers = headerBlock
      let handle = HTTP2StreamHandle(connection: self, id: streamID)
      if opensRequest && state.delegate == nil {
        // A new request: its head is complete.
        guard let acceptor else { return 0 }
        let head = HTTP2RequestHead(
          headers: headers, endStream: endStream, headerListTooLarge: tooLarge,
          isSecure: tls != nil, fieldReader: requestFieldReaderOwner)
        let (delegate, reply) = acceptor.accept(head, stream: handle)
        state.delegate = delegate
        if let reply { apply(reply, on: streamID) }
      } else if let delegate = state.delegate,
        let reply = delegate.receive(.headers(headers, endStream: endStream), stream: handle)
      {
        apply(reply, on: streamID)
      }
      if endStream { peerEnded(streamID) }
    case .data(let endStream):
      if endStream { peerEnded(streamID) }
    }
    return 0
  }

  /// The peer finished its side of a stream. Its delegate hears `.end` once, whichever frame
  /// carried END_STREAM (DATA, a request head, trailers), unless a reply already closed it.
  private func peerEnded(_ streamID: Int32) {
    guard let state = streams[streamID] else { return }
    state.remoteEnded = true
    if let delegate = state.delegate,
      let reply = delegate.receive(.end, stream: HTTP2StreamHandle(connection: self, id: streamID))
    {
      apply(reply, on: streamID)
    }
  }

  /// nghttp2 could not send a header block (e.g. over the 64 KiB limit): reset the stream so
  /// the peer is told instead of waiting forever.
  func headersNotSent(streamID: Int32) -> Int32 {
    guard let session, streamID > 0 else { return 0 }
    nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_INTERNAL_ERROR.rawValue)
    return 0
  }

  func sentEndStream(streamID: Int32) -> Int32 {
    guard let state = streams[streamID], let session else { return 0 }
    state.localEnded = true
    // A server that answered before the request finished tells the client to stop sending
    // (RFC 9113 §8.1) instead of reading the rest.
    if role == .server && !state.remoteEnded {
      nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_NO_ERROR.rawValue)
    }
    return 0
  }

  func streamClosed(streamID: Int32, errorCode: UInt32) -> Int32 {
    if headerBlockStreamID == streamID { endHeaderBlock() }
    guard var state = streams.removeValue(forKey: streamID) else { return 0 }
    if let timer = state.deadlineTimer { loop.cancelTimer(timer) }
    if state.heldBytes > 0, let session {
      // The stream is gone; give its held bytes back to the connection window.
      nghttp2_session_consume_connection(session, state.heldBytes)
    }
    let reason: HTTP2StreamCloseReason
    if state.timedOut {
      reason = .timedOut
    } else if errorCode == NGHTTP2_REFUSED_STREAM.rawValue && role == .client {
      reason = .refusedByGoaway
    } else if errorCode != 0 || !(state.localEnded && state.remoteEnded) {
      reason = errorCode == 0 && state.localEnded && state.remoteEnded ? .finished : .reset(HTTP2ErrorCode(errorCode))
    } else {
      reason = .finished
    }
    for writer in state.writers { writer.resume(throwing: HTTP2StreamError.streamClosed) }
    state.writers = []
    releaseBuffered(state.outbound.count)
    state.delegate?.closed(reason)
    if draining {
      // Close after this callback returns; never free the session from inside it.
      loop.execute { [self] in assumeIsolated { $0.closeIfDrained() } }
    }
    recycle(&state)
    return 0
  }

  func readData(
    streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>
  ) -> Int {
    guard let state = streams[streamID], let session else {
      return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
    }
    let copied = state.outbound.read(into: buffer, max: length)
    if copied > 0 { state.sentSinceHousekeeping = true }
    releaseBuffered(copied)
    if state.outbound.isEmpty && state.finishing {
      flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
      if let trailers = state.trailers, !trailers.isEmpty {
        flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
        nameValues.withNameValues(trailers) { nva, count in _ = nghttp2_submit_trailer(session, streamID, nva, count) }
      }
    } else if copied == 0 {
      state.deferred = true
      return Int(NGHTTP2_ERR_DEFERRED.rawValue)
    }
    if state.outbound.count < configuration.maxBufferedPerStream / 2 && !state.writers.isEmpty {
      let writers = state.writers
      state.writers.removeAll()
      for writer in writers { writer.resume() }
    }
    return copied
  }

  // MARK: Sending

  private var dataProvider: nghttp2_data_provider {
    nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: readStreamData)
  }

  /// Executes a delegate's or handler's reply. Safe inside callbacks (submit only).
  private func apply(_ reply: HTTP2StreamReply, on streamID: Int32) {
    guard let session, let state = streams[streamID] else { return }
    switch reply {
    case .reset(let code):
      nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, code.rawValue)
    case .respond(let headers, let body, let trailers):
      guard !state.responseSubmitted else { return }
      state.responseSubmitted = true
      if body.isEmpty && trailers == nil {
        nameValues.withNameValues(headers) { nva, count in
          _ = nghttp2_submit_response(session, streamID, nva, count, nil)
        }
        return
      }
      state.outbound.append(body)
      bufferedBodyBytes += body.count
      state.finishing = true
      state.trailers = trailers
      var provider = dataProvider
      nameValues.withNameValues(headers) { nva, count in
        _ = nghttp2_submit_response(session, streamID, nva, count, &provider)
      }
    }
  }

  /// Sends `reply` on a stream now. Must run on the connection (use `assumeIsolated` on its loop).
  public func perform(_ reply: HTTP2StreamReply, on streamID: Int32) {
    apply(reply, on: streamID)
    scheduleFlush()
  }

  func sendHeaders(_ headers: [HTTP2Header], on streamID: Int32) throws(HTTP2StreamError) {
    guard let session, !closed else { throw .connectionClosed }
    guard streams[streamID] != nil, !streams[streamID]!.responseSubmitted else { throw .streamClosed }
    streams[streamID]!.responseSubmitted = true
    var provider = dataProvider
    let status = nameValues.withNameValues(headers) { nva, count in
      nghttp2_submit_response(session, streamID, nva, count, &provider)
    }
    if status != 0 { throw .protocolFailure(String(cString: nghttp2_strerror(status))) }
    scheduleFlush()
  }

  func write(_ bytes: [UInt8], on streamID: Int32) async throws(HTTP2StreamError) {
    guard let session, !closed else { throw .connectionClosed }
    guard let state = streams[streamID], !state.finishing else { throw .streamClosed }
    state.outbound.append(bytes)
    bufferedBodyBytes += bytes.count
    resumeIfDeferred(streamID, session)
    scheduleFlush()
    // Wait while this stream, or the connection as a whole, holds more than its share: a peer
    // that stops reading holds the writers, not our memory.
    while true {
      guard !closed, let current = streams[streamID] else { throw closed ? .connectionClosed : .streamClosed }
      let streamFull = current.outbound.count > configuration.maxBufferedPerStream
      let connectionFull = bufferedBodyBytes > configuration.maxBufferedPerConnection
      if !streamFull && !connectionFull { return }
      do {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
          if streamFull { current.writers.append(continuation) } else { connectionWriters.append(continuation) }
        }
      } catch {
        throw (error as? HTTP2StreamError) ?? .streamClosed
      }
    }
  }

  /// Accounts for body bytes that left the queues, waking writers once there is room again.
  private func releaseBuffered(_ count: Int) {
    guard count > 0 else { return }
    bufferedBodyBytes = max(0, bufferedBodyBytes - count)
    if bufferedBodyBytes <= configuration.maxBufferedPerConnection / 2 && !connectionWriters.isEmpty {
      let waiting = connectionWriters
      connectionWriters.removeAll()
      for writer in waiting { writer.resume() }
    }
  }

  func finish(trailers: [HTTP2Header]?, on streamID: Int32) {
    guard let session, let state = streams[streamID], !state.finishing else { return }
    state.finishing = true
    state.trailers = trailers
    resumeIfDeferred(streamID, session)
    scheduleFlush()
  }

  private func resumeIfDeferred(_ streamID: Int32, _ session: OpaquePointer) {
    if streams[streamID]!.deferred {
      streams[streamID]!.deferred = false
      nghttp2_session_resume_data(session, streamID)
    }
  }

  /// Client: opens a request stream, sends `headers` and `body`, and ends the request side.
  /// With `timeout`, the stream is reset with CANCEL when it runs out and closes as `.timedOut`.
  /// With `endRequest: false` the request side stays open after `body` (more may follow with
  /// `write`, ended by `finish`).
  public func openStream(
    headers: [HTTP2Header], body: [UInt8], endRequest: Bool = true, timeout: Duration?,
    delegate: sending any HTTP2StreamDelegate
  ) throws(HTTP2StreamError) -> HTTP2StreamHandle {
    guard let session, !closed else { throw .connectionClosed }
    guard !goawayReceived && !draining else { throw .goingAway }
    let state = makeStreamState()
    state.delegate = delegate
    state.outbound.append(body)
    state.finishing = endRequest
    state.responseSubmitted = true
    var provider = dataProvider
    let streamID = nameValues.withNameValues(headers) { nva, count in
      nghttp2_submit_request(session, nil, nva, count, &provider, nil)
    }
    if streamID < 0 {
      if streamID == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE.rawValue { throw .goingAway }
      throw .protocolFailure(String(cString: nghttp2_strerror(streamID)))
    }
    // Counted only once the stream exists: a refused request's body is dropped with its state,
    // and counting it would hold the connection's writers back for good.
    bufferedBodyBytes += body.count
    if let timeout {
      state.deadlineTimer = loop.scheduleTimer(afterNanoseconds: timeout.saturatingNanoseconds) { [self] in
        assumeIsolated { $0.expire(streamID) }
      }
    }
    streams[streamID] = state
    scheduleFlush()
    return HTTP2StreamHandle(connection: self, id: streamID)
  }

  /// Body bytes queued on this connection and not yet handed to nghttp2.
  var queuedBodyBytes: Int { bufferedBodyBytes }

  /// Closed streams' states kept for reuse.
  var keptStreamStates: Int { spareStates.count }

  /// Moves a client's next stream id forward; false when nghttp2 refuses `next` (even, or behind
  /// the current one). Lets a test reach the end of the stream id space.
  func moveNextStreamID(to next: Int32) -> Bool {
    guard let session else { return false }
    return nghttp2_session_set_next_stream_id(session, next) == 0
  }

  private func expire(_ streamID: Int32) {
    guard let session, streams[streamID] != nil else { return }
    streams[streamID]!.deadlineTimer = nil
    streams[streamID]!.timedOut = true
    nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_CANCEL.rawValue)
    scheduleFlush()
  }

  /// Resets a stream with CANCEL from any thread (a caller's task was cancelled).
  public nonisolated func cancelStream(_ streamID: Int32) {
    loop.execute { [self] in
      assumeIsolated { $0.perform(.reset(.cancel), on: streamID) }
    }
  }
}

/// The loop's registration entry for a connection. Holding the connection strongly here is what
/// keeps it (and the unretained `user_data` nghttp2 holds) alive until it deregisters on close.
extension HTTP2Connection: LoopIdleWork {
  /// The flush `scheduleFlush` asked for.
  nonisolated package func runWhenLoopIdle() {
    assumeIsolatedOnLoop(()) { connection, _ in
      connection.flushScheduled = false
      connection.flush()
    }
  }
}

final class LoopRegistration: LoopSelectable {
  let connection: HTTP2Connection
  init(_ connection: HTTP2Connection) { self.connection = connection }
  func handleEvents(_ events: UInt32) {
    // Every readiness event: no closure context, no executor lookup (see `assumeIsolatedOnLoop`).
    connection.assumeIsolatedOnLoop(events) { $0.handleEvents($1) }
  }
}
