import CNghttp2

// nghttp2 calls back into Swift through plain C function pointers, which cannot capture. Each
// callback recovers its connection from `user_data` (an unretained pointer: the loop's
// registration table owns the connection while its session lives) and runs on the connection's
// isolation, which it already holds: nghttp2 only calls back from inside `mem_recv`/`mem_send`,
// and those are only called from the connection's own methods on its loop.

extension HTTP2Connection {
  /// `assumeIsolated` without the runtime's executor lookup, for hot paths that are on the loop
  /// thread by construction: the nghttp2 callbacks (only invoked from inside `mem_recv` and
  /// `mem_send`, which only this connection's isolated methods call) and handler tasks that
  /// checked `loop.inLoop`. Every job of this actor runs on that one thread, one at a time, so
  /// being on it is exclusive access. Debug builds still check.
  ///
  /// What `body` needs comes in `argument`, so `body` can be a closure that captures nothing:
  /// then it has no context to allocate. (A capturing closure made escaping for the cast cost two
  /// heap allocations per call, and nghttp2 calls back a dozen times per request.)
  @inline(__always)
  nonisolated func assumeIsolatedOnLoop<Argument, Result>(
    _ argument: Argument, _ body: @escaping (isolated HTTP2Connection, Argument) -> Result
  ) -> Result {
    assert(loop.inLoop, "nghttp2 callback off the connection's loop")
    // An `isolated` parameter changes nothing in a synchronous function's calling convention.
    let unchecked = unsafeBitCast(body, to: ((HTTP2Connection, Argument) -> Result).self)
    return unchecked(self, argument)
  }
}

/// Runs `body` on the connection behind `user_data`, without retaining it: the loop's
/// registration table keeps it alive for the whole callback, and a retain/release pair per
/// callback (a dozen per request) is measurable.
@inline(__always)
private func onConnection<Argument, Result>(
  _ userData: UnsafeMutableRawPointer?, _ argument: Argument,
  _ body: @escaping (isolated HTTP2Connection, Argument) -> Result
) -> Result {
  Unmanaged<HTTP2Connection>.fromOpaque(userData!)._withUnsafeGuaranteedRef {
    $0.assumeIsolatedOnLoop(argument, body)
  }
}

private func onBeginHeaders(
  _ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
  guard let frame else { return 0 }
  let streamID = frame.pointee.hd.stream_id
  let category = frame.pointee.headers.cat
  return onConnection(userData, (streamID, category == NGHTTP2_HCAT_REQUEST)) {
    $0.beginHeaders(streamID: $1.0, isRequest: $1.1)
  }
}

private func onHeader(
  _ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ name: UnsafePointer<UInt8>?,
  _ nameLength: Int, _ value: UnsafePointer<UInt8>?, _ valueLength: Int, _ flags: UInt8,
  _ userData: UnsafeMutableRawPointer?
) -> Int32 {
  guard let frame else { return 0 }
  let streamID = frame.pointee.hd.stream_id
  // Borrowed pointers used synchronously on this thread only.
  nonisolated(unsafe) let name = UnsafeRawBufferPointer(start: name, count: nameLength)
  nonisolated(unsafe) let value = UnsafeRawBufferPointer(start: value, count: valueLength)
  return onConnection(userData, (streamID, name, value)) {
    $0.header(streamID: $1.0, name: $1.1, value: $1.2)
  }
}

private func onDataChunk(
  _ session: OpaquePointer?, _ flags: UInt8, _ streamID: Int32, _ data: UnsafePointer<UInt8>?,
  _ length: Int, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
  nonisolated(unsafe) let bytes = UnsafeRawBufferPointer(start: data, count: length)
  return onConnection(userData, (streamID, bytes)) { $0.dataChunk(streamID: $1.0, bytes: $1.1) }
}

private func onFrameReceived(
  _ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
  guard let frame else { return 0 }
  let header = frame.pointee.hd
  let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
  let isAck = header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0
  let kind: HTTP2Connection.ReceivedFrame
  switch Int(header.type) {
  case Int(NGHTTP2_HEADERS.rawValue): kind = .headers(endStream: endStream)
  case Int(NGHTTP2_DATA.rawValue): kind = .data(endStream: endStream)
  case Int(NGHTTP2_SETTINGS.rawValue): kind = .settings
  case Int(NGHTTP2_GOAWAY.rawValue): kind = .goaway(lastStreamID: frame.pointee.goaway.last_stream_id)
  case Int(NGHTTP2_PING.rawValue): kind = .ping(ack: isAck)
  default: kind = .other
  }
  let streamID = header.stream_id
  return onConnection(userData, (kind, streamID)) { $0.frameReceived($1.0, streamID: $1.1) }
}

private func onFrameSent(
  _ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
  guard let frame else { return 0 }
  let header = frame.pointee.hd
  guard header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 else { return 0 }
  let streamID = header.stream_id
  return onConnection(userData, streamID) { $0.sentEndStream(streamID: $1) }
}

private func onFrameNotSent(
  _ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ libraryError: Int32,
  _ userData: UnsafeMutableRawPointer?
) -> Int32 {
  guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
  let streamID = frame.pointee.hd.stream_id
  return onConnection(userData, streamID) { $0.headersNotSent(streamID: $1) }
}

private func onStreamClose(
  _ session: OpaquePointer?, _ streamID: Int32, _ errorCode: UInt32, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
  onConnection(userData, (streamID, errorCode)) { $0.streamClosed(streamID: $1.0, errorCode: $1.1) }
}

/// The data-provider read callback shared by every stream: copies at most `length` queued bytes,
/// defers when nothing is queued yet, and ends the stream (with trailers when set) when finished.
func readStreamData(
  _ session: OpaquePointer?, _ streamID: Int32, _ buffer: UnsafeMutablePointer<UInt8>?, _ length: Int,
  _ flags: UnsafeMutablePointer<UInt32>?, _ source: UnsafeMutablePointer<nghttp2_data_source>?,
  _ userData: UnsafeMutableRawPointer?
) -> Int {
  nonisolated(unsafe) let buffer = buffer!
  nonisolated(unsafe) let flags = flags!
  return onConnection(userData, (streamID, buffer, length, flags)) {
    $0.readData(streamID: $1.0, into: $1.1, length: $1.2, flags: $1.3)
  }
}

/// One callbacks table for the process; nghttp2 copies it into each session.
///
/// `@unchecked Sendable`: built once and never mutated; nghttp2 only reads it when a session is
/// created.
final class NGHTTP2CallbacksTable: @unchecked Sendable {
  let pointer: OpaquePointer

  static let shared = NGHTTP2CallbacksTable()

  private init() {
    var callbacks: OpaquePointer?
    nghttp2_session_callbacks_new(&callbacks)
    pointer = callbacks!
    nghttp2_session_callbacks_set_on_begin_headers_callback(pointer, onBeginHeaders)
    nghttp2_session_callbacks_set_on_header_callback(pointer, onHeader)
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(pointer, onDataChunk)
    nghttp2_session_callbacks_set_on_frame_recv_callback(pointer, onFrameReceived)
    nghttp2_session_callbacks_set_on_frame_send_callback(pointer, onFrameSent)
    nghttp2_session_callbacks_set_on_stream_close_callback(pointer, onStreamClose)
    nghttp2_session_callbacks_set_on_frame_not_send_callback(pointer, onFrameNotSent)
  }
}

/// Calls `body` with an nghttp2 name/value array for `headers`, valid for the call only (nghttp2
/// copies the bytes during submit because no NO_COPY flag is set). Stack-allocated when small.
/// The fields are read in place, through the array's buffer: copying each `HTTP2Header` out
/// would retain and release its two strings, for every field of every response.
func withNameValueArray<T>(_ headers: [HTTP2Header], _ body: (UnsafePointer<nghttp2_nv>, Int) -> T) -> T {
  headers.withUnsafeBufferPointer { fields in
    var byteCount = 0
    for index in fields.indices { byteCount += fields[index].name.utf8.count + fields[index].value.utf8.count }
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(byteCount, 1)) { bytes in
      withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: max(fields.count, 1)) { array in
        let base = bytes.baseAddress!
        var offset = 0
        for index in fields.indices {
          let nameStart = offset
          offset += copyUTF8(fields[index].name, to: base + offset)
          let valueStart = offset
          offset += copyUTF8(fields[index].value, to: base + offset)
          array.initializeElement(
            at: index,
            to: nghttp2_nv(
              name: base + nameStart, value: base + valueStart, namelen: valueStart - nameStart,
              valuelen: offset - valueStart, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
        }
        return body(UnsafePointer(array.baseAddress!), fields.count)
      }
    }
  }
}

@inline(__always)
private func copyUTF8(_ text: borrowing String, to destination: UnsafeMutablePointer<UInt8>) -> Int {
  let utf8 = text.utf8
  let copied = utf8.withContiguousStorageIfAvailable { source -> Int in
    guard let start = source.baseAddress else { return 0 }
    destination.update(from: start, count: source.count)
    return source.count
  }
  if let copied { return copied }
  var count = 0
  for byte in utf8 {
    destination[count] = byte
    count += 1
  }
  return count
}

/// nghttp2 name/value arrays for the header blocks a connection sends again and again: a gRPC
/// server answers every successful call with the very same `:status: 200` array and the same
/// `grpc-status: 0` trailers, and laying their strings out for nghttp2 each time was a
/// measurable share of a call.
///
/// A block is recognised by its array's storage. The cache holds each array it knows, so that
/// storage can be neither freed nor reused for something else, and an owner that changes its
/// array gets new storage (copy on write): the same storage is the same fields. A block is laid
/// out for keeps the second time it is seen; one built afresh for each response (with custom
/// metadata, say) costs a short scan and one slot among the candidates. Loop-confined, like
/// the connection that owns it; bounded at `capacity` blocks of each kind.
struct NameValueCache {
  static let capacity = 4

  /// One block laid out once: its bytes and its name/value array in a single allocation.
  final class Prepared {
    let fields: [HTTP2Header]
    let storage: UnsafeMutableRawPointer
    let nameValues: UnsafeMutablePointer<nghttp2_nv>

    init(_ fields: [HTTP2Header]) {
      self.fields = fields
      let arrayBytes = MemoryLayout<nghttp2_nv>.stride * fields.count
      let textBytes = fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
      storage = .allocate(byteCount: max(arrayBytes + textBytes, 1), alignment: MemoryLayout<nghttp2_nv>.alignment)
      nameValues = storage.bindMemory(to: nghttp2_nv.self, capacity: fields.count)
      let text = (storage + arrayBytes).assumingMemoryBound(to: UInt8.self)
      var offset = 0
      for (index, field) in fields.enumerated() {
        let nameStart = offset
        offset += copyUTF8(field.name, to: text + offset)
        let valueStart = offset
        offset += copyUTF8(field.value, to: text + offset)
        (nameValues + index).initialize(
          to: nghttp2_nv(
            name: text + nameStart, value: text + valueStart, namelen: valueStart - nameStart,
            valuelen: offset - valueStart, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
      }
    }

    deinit { storage.deallocate() }
  }

  private var prepared: [Prepared] = []
  /// Blocks seen once, not laid out yet.
  private var candidates: [[HTTP2Header]] = []

  /// Blocks laid out now (for tests).
  var preparedCount: Int { prepared.count }

  mutating func withNameValues<T>(_ headers: [HTTP2Header], _ body: (UnsafePointer<nghttp2_nv>, Int) -> T) -> T {
    guard !headers.isEmpty else { return withNameValueArray(headers, body) }
    for entry in prepared where sameStorage(entry.fields, headers) {
      return body(entry.nameValues, entry.fields.count)
    }
    if let index = candidates.firstIndex(where: { sameStorage($0, headers) }) {
      candidates.remove(at: index)
      let entry = Prepared(headers)
      if prepared.count == Self.capacity { prepared.removeFirst() }
      prepared.append(entry)
      return body(entry.nameValues, entry.fields.count)
    }
    if candidates.count == Self.capacity { candidates.removeFirst() }
    candidates.append(headers)
    return withNameValueArray(headers, body)
  }
}

@inline(__always)
private func sameStorage(_ a: [HTTP2Header], _ b: [HTTP2Header]) -> Bool {
  a.count == b.count && a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
}
