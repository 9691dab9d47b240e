import CNghttp2
import Dispatch
import Glibc
import HayonHTTP2

/// One HTTP/2 frame as it travels on the wire. For HEADERS, `headers` holds the decoded block
/// (CONTINUATION frames already folded in).
struct RawFrame: Sendable, CustomStringConvertible {
  static let data: UInt8 = 0x0
  static let headers: UInt8 = 0x1
  static let priority: UInt8 = 0x2
  static let rstStream: UInt8 = 0x3
  static let settings: UInt8 = 0x4
  static let pushPromise: UInt8 = 0x5
  static let ping: UInt8 = 0x6
  static let goaway: UInt8 = 0x7
  static let windowUpdate: UInt8 = 0x8
  static let continuation: UInt8 = 0x9

  static let flagEndStream: UInt8 = 0x1
  static let flagAck: UInt8 = 0x1
  static let flagEndHeaders: UInt8 = 0x4
  static let flagPadded: UInt8 = 0x8
  static let flagPriority: UInt8 = 0x20

  var type: UInt8
  var flags: UInt8
  var streamID: UInt32
  var payload: [UInt8]
  /// Decoded header block of a HEADERS frame; nil for other frames or when decoding failed.
  var headers: [HTTP2Header]?

  var endStream: Bool { (type == Self.data || type == Self.headers) && flags & Self.flagEndStream != 0 }
  var isAck: Bool { (type == Self.settings || type == Self.ping) && flags & Self.flagAck != 0 }

  /// The error code of a RST_STREAM or GOAWAY frame.
  var errorCode: UInt32? {
    switch type {
    case Self.rstStream where payload.count >= 4: return Self.readUInt32(payload, at: 0)
    case Self.goaway where payload.count >= 8: return Self.readUInt32(payload, at: 4)
    default: return nil
    }
  }

  /// The last stream id of a GOAWAY frame.
  var lastStreamID: UInt32? {
    type == Self.goaway && payload.count >= 4 ? Self.readUInt32(payload, at: 0) & 0x7FFF_FFFF : nil
  }

  /// DATA payload without padding.
  var dataBytes: [UInt8] {
    guard type == Self.data else { return [] }
    guard flags & Self.flagPadded != 0, let padLength = payload.first else { return payload }
    let end = payload.count - Int(padLength)
    return end > 1 ? Array(payload[1..<end]) : []
  }

  /// The first value of a decoded header.
  func header(_ name: String) -> String? { headers?[first: name] }

  var description: String {
    let names: [UInt8: String] = [
      0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS", 5: "PUSH_PROMISE", 6: "PING",
      7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION",
    ]
    var text = "\(names[type] ?? "TYPE\(type)") stream=\(streamID) flags=0x\(String(flags, radix: 16)) length=\(payload.count)"
    if let errorCode { text += " error=\(errorCode)" }
    if let headers { text += " headers=\(headers.map { "\($0.name): \($0.value.prefix(80))" })" }
    return text
  }

  static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
      | UInt32(bytes[offset + 3])
  }
}

/// What a read ended with.
enum RawReadEnd: Error, Sendable, Equatable {
  /// A frame satisfied the predicate (it is the last of `frames`).
  case matched
  /// The server closed the connection: EOF (`reset == false`) or a TCP RST (`reset == true`).
  case closed(reset: Bool)
  /// Nothing matched before the deadline, and the connection is still open.
  case timedOut
  /// `recv` failed with this errno (other than a reset), or a header block could not be decoded.
  case failed(errno: Int32)

  var isClosed: Bool { if case .closed = self { true } else { false } }
}

struct RawReadOutcome: Sendable {
  var end: RawReadEnd
  /// Every frame read during the call, in order.
  var frames: [RawFrame]
  var matched: RawFrame? { end == .matched ? frames.last : nil }
}

struct RawClientError: Error, CustomStringConvertible {
  var call: String
  var errno: Int32
  var description: String { "\(call) failed: \(String(cString: strerror(errno)))" }
}

/// A deliberately dumb, blocking-socket HTTP/2 client for hostile-peer tests: it writes whatever
/// frames (or bytes) a test asks for, in the order asked, and reads raw frames back.
///
/// Reads are blocking `recv` calls bounded by `SO_RCVTIMEO` (never longer than the safety timeout),
/// run on the client's own dispatch queue so they never block the Swift concurrency pool. Sends
/// are plain blocking `send` calls with `MSG_NOSIGNAL` and an `SO_SNDTIMEO` safety net.
///
/// `@unchecked Sendable`: the receive buffer and the HPACK inflater are touched only on `queue`;
/// `fd` is immutable and closed on `queue` too.
final class RawHTTP2Client: @unchecked Sendable {
  static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
  static let maxFrameSize = 16_384

  let fd: Int32
  let safetyTimeout: Duration
  private let queue = DispatchQueue(label: "RawHTTP2Client")
  private var closed = false
  private var inbound: [UInt8] = []
  private var inflater: OpaquePointer?
  /// A HEADERS frame waiting for its CONTINUATION frames, with the block so far.
  private var pendingHeaders: (frame: RawFrame, block: [UInt8])?

  /// Connects (blocking) to an IPv4 `address`.
  init(connectingTo address: SocketAddress, safetyTimeout: Duration = .seconds(5)) throws {
    self.safetyTimeout = safetyTimeout
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw RawClientError(call: "socket", errno: errno) }
    var target = sockaddr_in()
    target.sin_family = sa_family_t(AF_INET)
    target.sin_port = in_port_t(UInt16(address.port).bigEndian)
    guard inet_pton(AF_INET, address.host, &target.sin_addr) == 1 else {
      Glibc.close(fd)
      throw RawClientError(call: "inet_pton(\(address.host))", errno: EINVAL)
    }
    Self.setTimeout(fd, SO_SNDTIMEO, safetyTimeout)
    Self.setTimeout(fd, SO_RCVTIMEO, safetyTimeout)
    let result = withUnsafePointer(to: &target) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard result == 0 else {
      let error = errno
      Glibc.close(fd)
      throw RawClientError(call: "connect(\(address))", errno: error)
    }
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    self.fd = fd
    var inflater: OpaquePointer?
    nghttp2_hd_inflate_new(&inflater)
    self.inflater = inflater
  }

  deinit {
    if !closed { Glibc.close(fd) }
    if let inflater { nghttp2_hd_inflate_del(inflater) }
  }

  // MARK: Closing

  /// Closes the socket normally (FIN; the kernel turns it into RST when unread bytes remain).
  func close() {
    queue.sync {
      guard !closed else { return }
      closed = true
      Glibc.close(fd)
    }
  }

  /// Closes with SO_LINGER 0: the kernel sends a TCP RST at once.
  func abort() {
    queue.sync {
      guard !closed else { return }
      closed = true
      var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
      Glibc.close(fd)
    }
  }

  // MARK: Sending

  /// Sends `bytes` as they are.
  func send(_ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
      let written = bytes.withUnsafeBytes { raw in
        Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
      }
      if written > 0 {
        offset += written
        continue
      }
      let error = errno
      if written < 0 && error == EINTR { continue }
      throw RawClientError(call: "send", errno: written == 0 ? EPIPE : error)
    }
  }

  func sendPreface() throws { try send(Self.preface) }

  func sendSettings(_ settings: [(id: UInt16, value: UInt32)] = [], ack: Bool = false) throws {
    try send(Self.settingsFrame(settings, ack: ack))
  }

  func sendHeaders(streamID: UInt32, _ headers: [HTTP2Header], endStream: Bool) throws {
    try send(Self.headersFrames(streamID: streamID, headers, endStream: endStream))
  }

  func sendData(streamID: UInt32, _ bytes: [UInt8], endStream: Bool) throws {
    try send(Self.dataFrame(streamID: streamID, bytes, endStream: endStream))
  }

  func sendWindowUpdate(streamID: UInt32, increment: UInt32) throws {
    try send(Self.windowUpdateFrame(streamID: streamID, increment: increment))
  }

  func sendRSTStream(streamID: UInt32, code: UInt32) throws {
    try send(Self.rstStreamFrame(streamID: streamID, code: code))
  }

  func sendPing(_ opaque: UInt64, ack: Bool = false) throws {
    try send(Self.frame(type: RawFrame.ping, flags: ack ? RawFrame.flagAck : 0, streamID: 0, payload: Self.bytes(of: opaque)))
  }

  /// The client preface and our SETTINGS, then the server's SETTINGS is awaited and (with
  /// `acknowledge`) acknowledged. Throws when the server closes or stays silent.
  func handshake(settings: [(id: UInt16, value: UInt32)] = [], acknowledge: Bool = true) async throws {
    try send(Self.preface + Self.settingsFrame(settings, ack: false))
    let outcome = await readFrames { $0.type == RawFrame.settings && !$0.isAck }
    guard outcome.end == .matched else {
      throw RawClientError(call: "handshake (\(outcome.end), frames \(outcome.frames))", errno: ECONNABORTED)
    }
    if acknowledge { try sendSettings(ack: true) }
  }

  // MARK: Frame encoding

  static func frame(type: UInt8, flags: UInt8, streamID: UInt32, payload: [UInt8]) -> [UInt8] {
    precondition(payload.count < 1 << 24)
    var bytes: [UInt8] = [
      UInt8(truncatingIfNeeded: payload.count >> 16), UInt8(truncatingIfNeeded: payload.count >> 8),
      UInt8(truncatingIfNeeded: payload.count), type, flags,
    ]
    bytes += Self.bytes(of: streamID & 0x7FFF_FFFF)
    bytes += payload
    return bytes
  }

  static func settingsFrame(_ settings: [(id: UInt16, value: UInt32)], ack: Bool) -> [UInt8] {
    var payload: [UInt8] = []
    for setting in settings {
      payload += [UInt8(truncatingIfNeeded: setting.id >> 8), UInt8(truncatingIfNeeded: setting.id)]
      payload += bytes(of: setting.value)
    }
    return frame(type: RawFrame.settings, flags: ack ? RawFrame.flagAck : 0, streamID: 0, payload: payload)
  }

  /// A HEADERS frame (plus CONTINUATION frames when the block exceeds the default frame size),
  /// the block encoded as HPACK literals without indexing, new names, no Huffman coding.
  static func headersFrames(streamID: UInt32, _ headers: [HTTP2Header], endStream: Bool) -> [UInt8] {
    let block = encodeHeaderBlock(headers)
    var chunks: [[UInt8]] = []
    var offset = 0
    repeat {
      let end = min(offset + maxFrameSize, block.count)
      chunks.append(Array(block[offset..<end]))
      offset = end
    } while offset < block.count
    var bytes: [UInt8] = []
    for (index, chunk) in chunks.enumerated() {
      var flags: UInt8 = index == chunks.count - 1 ? RawFrame.flagEndHeaders : 0
      if index == 0 {
        if endStream { flags |= RawFrame.flagEndStream }
        bytes += frame(type: RawFrame.headers, flags: flags, streamID: streamID, payload: chunk)
      } else {
        bytes += frame(type: RawFrame.continuation, flags: flags, streamID: streamID, payload: chunk)
      }
    }
    return bytes
  }

  static func encodeHeaderBlock(_ headers: [HTTP2Header]) -> [UInt8] {
    var block: [UInt8] = []
    for header in headers {
      // 0000 0000: literal header field without indexing, new name.
      block.append(0x00)
      let name = Array(header.name.utf8)
      let value = Array(header.value.utf8)
      appendInteger(name.count, prefixBits: 7, firstByte: 0x00, to: &block)  // H = 0
      block += name
      appendInteger(value.count, prefixBits: 7, firstByte: 0x00, to: &block)
      block += value
    }
    return block
  }

  /// HPACK integer representation (RFC 7541 §5.1).
  static func appendInteger(_ value: Int, prefixBits: Int, firstByte: UInt8, to output: inout [UInt8]) {
    let limit = (1 << prefixBits) - 1
    if value < limit {
      output.append(firstByte | UInt8(value))
      return
    }
    output.append(firstByte | UInt8(limit))
    var rest = value - limit
    while rest >= 128 {
      output.append(UInt8(rest & 0x7F) | 0x80)
      rest >>= 7
    }
    output.append(UInt8(rest))
  }

  static func dataFrame(streamID: UInt32, _ bytes: [UInt8], endStream: Bool) -> [UInt8] {
    frame(type: RawFrame.data, flags: endStream ? RawFrame.flagEndStream : 0, streamID: streamID, payload: bytes)
  }

  static func windowUpdateFrame(streamID: UInt32, increment: UInt32) -> [UInt8] {
    frame(type: RawFrame.windowUpdate, flags: 0, streamID: streamID, payload: bytes(of: increment & 0x7FFF_FFFF))
  }

  static func rstStreamFrame(streamID: UInt32, code: UInt32) -> [UInt8] {
    frame(type: RawFrame.rstStream, flags: 0, streamID: streamID, payload: bytes(of: code))
  }

  static func bytes(of value: UInt32) -> [UInt8] {
    [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
     UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
  }

  static func bytes(of value: UInt64) -> [UInt8] {
    bytes(of: UInt32(truncatingIfNeeded: value >> 32)) + bytes(of: UInt32(truncatingIfNeeded: value))
  }

  // MARK: gRPC conveniences

  /// A gRPC request header block for `path`.
  static func grpcRequestHeaders(path: String, token: String?, extra: [HTTP2Header] = []) -> [HTTP2Header] {
    var headers = [
      HTTP2Header(":method", "POST"), HTTP2Header(":scheme", "http"), HTTP2Header(":path", path),
      HTTP2Header(":authority", "127.0.0.1"), HTTP2Header("content-type", "application/grpc"),
      HTTP2Header("te", "trailers"),
    ]
    if let token { headers.append(HTTP2Header("authorization", "Bearer \(token)")) }
    return headers + extra
  }

  /// The gRPC messages carried by the DATA frames of `streamID` among `frames`.
  static func grpcMessages(in frames: [RawFrame], streamID: UInt32) -> [[UInt8]] {
    let body = frames.filter { $0.type == RawFrame.data && $0.streamID == streamID }.flatMap(\.dataBytes)
    var messages: [[UInt8]] = []
    var offset = 0
    while body.count - offset >= 5 {
      let length = Int(RawFrame.readUInt32(body, at: offset + 1))
      guard body.count - offset - 5 >= length else { break }
      messages.append(Array(body[(offset + 5)..<(offset + 5 + length)]))
      offset += 5 + length
    }
    return messages
  }

  // MARK: Reading

  /// Reads frames until `predicate` accepts one, the server closes the connection, or `timeout`
  /// runs out (bounded by the safety timeout per `recv`).
  func readFrames(
    timeout: Duration = .seconds(5), until predicate: @escaping @Sendable (RawFrame) -> Bool
  ) async -> RawReadOutcome {
    let deadline = ContinuousClock.now + timeout
    return await withCheckedContinuation { continuation in
      queue.async {
        var frames: [RawFrame] = []
        while true {
          let end = self.readFrame(deadline: deadline)
          switch end {
          case .success(let frame):
            frames.append(frame)
            if predicate(frame) {
              continuation.resume(returning: RawReadOutcome(end: .matched, frames: frames))
              return
            }
          case .failure(let end):
            continuation.resume(returning: RawReadOutcome(end: end, frames: frames))
            return
          }
        }
      }
    }
  }

  /// Reads (and collects) frames until the server closes the connection or `timeout` runs out.
  func waitForClose(timeout: Duration = .seconds(5)) async -> RawReadOutcome {
    await readFrames(timeout: timeout) { _ in false }
  }

  /// Queue only.
  private func readFrame(deadline: ContinuousClock.Instant) -> Result<RawFrame, RawReadEnd> {
    while true {
      if let frame = takeFrame() {
        if frame.type == RawFrame.headers {
          var frame = frame
          let block = headerBlockFragment(of: frame)
          if frame.flags & RawFrame.flagEndHeaders != 0 {
            frame.headers = decode(block)
            if frame.headers == nil { return .failure(.failed(errno: EPROTO)) }
            return .success(frame)
          }
          pendingHeaders = (frame, block)
          continue
        }
        if frame.type == RawFrame.continuation, var pending = pendingHeaders {
          pending.block += frame.payload
          if frame.flags & RawFrame.flagEndHeaders != 0 {
            pendingHeaders = nil
            pending.frame.flags |= RawFrame.flagEndHeaders
            pending.frame.headers = decode(pending.block)
            if pending.frame.headers == nil { return .failure(.failed(errno: EPROTO)) }
            return .success(pending.frame)
          }
          pendingHeaders = pending
          continue
        }
        return .success(frame)
      }
      if closed { return .failure(.failed(errno: EBADF)) }
      let remaining = deadline - .now
      if remaining <= .zero { return .failure(.timedOut) }
      Self.setTimeout(fd, SO_RCVTIMEO, max(min(remaining, safetyTimeout), .milliseconds(1)))
      var chunk = [UInt8](repeating: 0, count: 64 * 1024)
      let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if count > 0 {
        inbound += chunk[0..<count]
        continue
      }
      if count == 0 { return .failure(.closed(reset: false)) }
      let error = errno
      switch error {
      case EAGAIN, EWOULDBLOCK, EINTR: continue
      case ECONNRESET: return .failure(.closed(reset: true))
      default: return .failure(.failed(errno: error))
      }
    }
  }

  /// Queue only: the next complete frame in the receive buffer.
  private func takeFrame() -> RawFrame? {
    guard inbound.count >= 9 else { return nil }
    let length = Int(inbound[0]) << 16 | Int(inbound[1]) << 8 | Int(inbound[2])
    guard inbound.count >= 9 + length else { return nil }
    let frame = RawFrame(
      type: inbound[3], flags: inbound[4], streamID: RawFrame.readUInt32(inbound, at: 5) & 0x7FFF_FFFF,
      payload: Array(inbound[9..<(9 + length)]))
    inbound.removeFirst(9 + length)
    return frame
  }

  private func headerBlockFragment(of frame: RawFrame) -> [UInt8] {
    var start = 0
    var end = frame.payload.count
    if frame.flags & RawFrame.flagPadded != 0, let padLength = frame.payload.first {
      start += 1
      end -= Int(padLength)
    }
    if frame.flags & RawFrame.flagPriority != 0 { start += 5 }
    return start < end ? Array(frame.payload[start..<end]) : []
  }

  /// Queue only. Decodes a header block with nghttp2's HPACK inflater, which keeps the dynamic
  /// table across blocks (so every block must go through here, in order) and handles Huffman.
  private func decode(_ block: [UInt8]) -> [HTTP2Header]? {
    guard let inflater else { return nil }
    var headers: [HTTP2Header] = []
    let storage = block.isEmpty ? [0] : block
    let ok = storage.withUnsafeBufferPointer { buffer -> Bool in
      var offset = 0
      let total = block.count
      while true {
        var nv = nghttp2_nv()
        var flags: Int32 = 0
        let consumed = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, buffer.baseAddress! + offset, total - offset, 1)
        if consumed < 0 { return false }
        offset += consumed
        if UInt32(bitPattern: flags) & NGHTTP2_HD_INFLATE_EMIT.rawValue != 0 {
          headers.append(
            HTTP2Header(
              String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self),
              String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)))
        }
        if UInt32(bitPattern: flags) & NGHTTP2_HD_INFLATE_FINAL.rawValue != 0 {
          nghttp2_hd_inflate_end_headers(inflater)
          return true
        }
        if UInt32(bitPattern: flags) & NGHTTP2_HD_INFLATE_EMIT.rawValue == 0 && offset == total { return true }
      }
    }
    return ok ? headers : nil
  }

  private static func setTimeout(_ fd: Int32, _ option: Int32, _ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
  }
}
