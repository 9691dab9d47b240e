import Foundation
import HayonTestSupport
import HayonHTTP1
import HayonHTTP2
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One loop group for every server in this target (threads are not free on a shared machine).
let testGroup = EventLoopGroup(loopCount: 2, name: "http1-test")

struct ClientError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// A counter handlers bump, so tests can say "the handler was never called".
final class CallCounter: Sendable {
  private let value = Atomic<Int>(0)
  func increment() { value.add(1, ordering: .relaxed) }
  var count: Int { value.load(ordering: .relaxed) }
}

/// How many handlers run at once, and the most seen.
final class ConcurrencyProbe: Sendable {
  private let state = Mutex<(active: Int, maximum: Int)>((0, 0))
  func enter() { state.withLock { $0.active += 1; $0.maximum = max($0.maximum, $0.active) } }
  func leave() { state.withLock { $0.active -= 1 } }
  var maximum: Int { state.withLock { $0.maximum } }
}

/// A one-shot signal: `wait` suspends until `open` (or returns at once when already open).
final class Gate: Sendable {
  private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  func open() {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      state.open = true
      defer { state.waiters.removeAll() }
      return state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  func wait() async {
    await withCheckedContinuation { continuation in
      let isOpen = state.withLock { state -> Bool in
        if !state.open { state.waiters.append(continuation) }
        return state.open
      }
      if isOpen { continuation.resume() }
    }
  }
}

/// A response as a test client reads it off the wire.
struct WireResponse: Sendable {
  var status: Int
  var headers: HTTPFields
  var body: [UInt8]
  var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking TCP client speaking raw bytes. Every read has a receive timeout as a safety net
/// (a broken server fails the test instead of hanging it); tests never rely on it for timing.
final class RawClient: @unchecked Sendable {
  // @unchecked: a client is driven by one test at a time, never concurrently; `offPool` only
  // moves that single user to another thread.
  let fd: Int32
  private var pending: [UInt8] = []

  init(port: Int, receiveTimeout: Int = 10) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ClientError("socket failed") }
    var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard result == 0 else {
      let error = errno
      Glibc.close(fd)
      throw ClientError("connect failed: errno \(error)")
    }
  }

  deinit { Glibc.close(fd) }

  func send(_ text: String) throws { try send(Array(text.utf8)) }

  func send(_ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
      let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      guard written > 0 else { throw ClientError("send failed: errno \(errno)") }
      offset += written
    }
  }

  /// Sends one byte per system call (TCP_NODELAY is on, so most leave as their own segment).
  func sendByteByByte(_ text: String) throws {
    for byte in text.utf8 { try send([byte]) }
  }

  func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

  /// Reads more bytes; returns false on EOF or reset.
  private func fill() throws -> Bool {
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    if count > 0 {
      pending.append(contentsOf: chunk[0..<count])
      return true
    }
    if count == 0 { return false }
    let error = errno
    if error == ECONNRESET { return false }
    if error == EAGAIN || error == EWOULDBLOCK { throw ClientError("receive timed out (safety net)") }
    throw ClientError("recv failed: errno \(error)")
  }

  /// Reads one response (including interim 1xx ones). Nil when the connection ends first.
  func readResponse(bodyless: Bool = false) throws -> WireResponse? {
    var headEnd: Int?
    while true {
      if let range = findHeadEnd() { headEnd = range; break }
      if try !fill() { return nil }
    }
    let head = String(decoding: pending[0..<headEnd!], as: UTF8.self)
    pending.removeFirst(headEnd! + 4)
    var lines = head.components(separatedBy: "\r\n")
    let statusLine = lines.removeFirst().split(separator: " ")
    guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
      throw ClientError("bad status line in \(head)")
    }
    var headers = HTTPFields()
    for line in lines {
      guard let colon = line.firstIndex(of: ":") else { throw ClientError("bad header line \(line)") }
      headers.add(String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
    var body: [UInt8] = []
    if !bodyless && status >= 200, let length = headers["content-length"].flatMap({ Int($0) }) {
      while pending.count < length {
        if try !fill() { throw ClientError("connection ended inside a body") }
      }
      body = Array(pending[0..<length])
      pending.removeFirst(length)
    }
    return WireResponse(status: status, headers: headers, body: body)
  }

  private func findHeadEnd() -> Int? {
    guard pending.count >= 4 else { return nil }
    for index in 0...(pending.count - 4)
    where pending[index] == 0x0D && pending[index + 1] == 0x0A && pending[index + 2] == 0x0D && pending[index + 3] == 0x0A {
      return index
    }
    return nil
  }

  /// Reads until the server closes; returns everything not yet consumed.
  func readToEnd() throws -> [UInt8] {
    while try fill() {}
    defer { pending.removeAll() }
    return pending
  }

  /// True once the server has closed the connection (EOF or reset), decided without reading
  /// any queued data: waits on the socket's hang-up event.
  func waitForPeerClose(timeoutMilliseconds: Int32 = 10_000) -> Bool {
    // POLLRDHUP (0x2000) is a GNU extension Glibc's overlay does not import.
    let readHangUp: Int16 = 0x2000
    var entry = pollfd(fd: fd, events: readHangUp, revents: 0)
    let ready = poll(&entry, 1, timeoutMilliseconds)
    return ready == 1 && entry.revents & (readHangUp | Int16(POLLHUP) | Int16(POLLERR)) != 0
  }
}

/// Runs blocking client work on its own thread, so a test that must keep the concurrency pool
/// free (while the server's shutdown runs in a child task) does not block a pool thread.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    let thread = Thread { continuation.resume(with: Result { try body() }) }
    thread.start()
  }
}

/// Starts a server on port 0 with `configure` applied, runs `body`, and always shuts it down.
func withServer(
  configure: (inout HTTP1Server.Configuration) -> Void = { _ in },
  handler: @escaping HTTP1Server.Handler,
  _ body: (HTTP1Server, Int) async throws -> Void
) async throws {
  var configuration = HTTP1Server.Configuration(address: SocketAddress(host: "127.0.0.1", port: 0))
  configure(&configuration)
  let server = HTTP1Server(configuration: configuration, group: testGroup, handler: handler)
  let address = try await server.start()
  do {
    try await body(server, address.port)
  } catch {
    await server.shutdown(gracePeriod: .milliseconds(100))
    throw error
  }
  await server.shutdown(gracePeriod: .milliseconds(100))
}

/// A handler that counts its calls and echoes what it saw.
func echoHandler(_ counter: CallCounter) -> HTTP1Server.Handler {
  { request in
    counter.increment()
    var text = "\(request.method) \(request.target) \(request.body.count)"
    if !request.body.isEmpty { text += " " + String(decoding: request.body, as: UTF8.self) }
    return HTTPResponse(status: 200, headers: ["Content-Type": "text/plain"], body: Array(text.utf8))
  }
}

/// Runs a command to completion and captures its output.
func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
  let result = try await runProcess(executable, arguments)
  return (result.status, result.stdoutText, result.stderrText)
}
