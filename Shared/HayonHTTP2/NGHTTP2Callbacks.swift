import CNghttp2

// nghttp2 calls back into Swift through plain C function pointers, which cannot capture. Each
// callback recovers its connection from `user_data` (an unretained pointer: the loop's
// registration table owns the connection while its session lives) and runs on the connection's
// isolation, which it already holds: nghttp2 only calls back from inside `mem_recv`/`mem_send`,
// and those are only called from the connection's own methods on its loop.

extension HTTP2Connection {
  /// `assumeIsolated` without the runtime's executor lookup, for the nghttp2 callbacks: they run
  /// many times per request, and are only ever invoked from inside `mem_recv`/`mem_send`, which
  /// only this connection's isolated methods call, on its loop. Debug builds still check.
  @inline(__always)
  nonisolated func assumeIsolatedOnLoop<T>(_ body: (isolated HTTP2Connection) -> T) -> T {
    assert(loop.inLoop, "nghttp2 callback off the connection's loop")
    return withoutActuallyEscaping(body) { escapable in
      // An `isolated` parameter changes nothing in a synchronous function's calling convention.
      let unchecked = unsafeBitCast(escapable, to: ((HTTP2Connection) -> T).self)
      return unchecked(self)
    }
  }
}

@inline(__always)
private func connection(_ userData: UnsafeMutableRawPointer?) -> HTTP2Connection {
  Unmanaged<HTTP2Connection>.fromOpaque(userData!).takeUnretainedValue()
}

private func onBeginHeaders(
  _ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
  guard let frame else { return 0 }
  let streamID = frame.pointee.hd.stream_id
  let category = frame.pointee.headers.cat
  return connection(userData).assumeIsolatedOnLoop { $0.beginHeaders(streamID: streamID, isRequest: category == NGHTTP2_HCAT_REQUEST) }
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
  return connection(userData).assumeIsolatedOnLoop { $0.header(streamID: streamID, name: name, value: value) }
}

private func onDataChunk(
  _ session: OpaquePointer?, _ flags: UInt8, _ streamID: Int32, _ data: UnsafePointer<UInt8>?,
  _ length: Int, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
  nonisolated(unsafe) let bytes = UnsafeRawBufferPointer(start: data, count: length)
  return connection(userData).assumeIsolatedOnLoop { $0.dataChunk(streamID: streamID, bytes: bytes) }
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
  return connection(userData).assumeIsolatedOnLoop { $0.frameReceived(kind, streamID: streamID) }
}

private func onFrameSent(
  _ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
  guard let frame else { return 0 }
  let header = frame.pointee.hd
  guard header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 else { return 0 }
  let streamID = header.stream_id
  return connection(userData).assumeIsolatedOnLoop { $0.sentEndStream(streamID: streamID) }
}

private func onStreamClose(
  _ session: OpaquePointer?, _ streamID: Int32, _ errorCode: UInt32, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
  connection(userData).assumeIsolatedOnLoop { $0.streamClosed(streamID: streamID, errorCode: errorCode) }
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
  return connection(userData).assumeIsolatedOnLoop {
    $0.readData(streamID: streamID, into: buffer, length: length, flags: flags)
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
  }
}

/// Calls `body` with an nghttp2 name/value array for `headers`, valid for the call only (nghttp2
/// copies the bytes during submit because no NO_COPY flag is set).
func withNameValueArray<T>(_ headers: [HTTP2Header], _ body: (UnsafePointer<nghttp2_nv>, Int) -> T) -> T {
  var bytes: [UInt8] = []
  bytes.reserveCapacity(headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count })
  var ranges: [(Int, Int, Int, Int)] = []
  ranges.reserveCapacity(headers.count)
  for header in headers {
    let nameStart = bytes.count
    bytes.append(contentsOf: header.name.utf8)
    let valueStart = bytes.count
    bytes.append(contentsOf: header.value.utf8)
    ranges.append((nameStart, valueStart - nameStart, valueStart, bytes.count - valueStart))
  }
  if bytes.isEmpty { bytes.append(0) }
  return bytes.withUnsafeMutableBufferPointer { raw in
    let base = raw.baseAddress!
    let array = ranges.map { range in
      nghttp2_nv(
        name: base + range.0, value: base + range.2, namelen: range.1, valuelen: range.3,
        flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
    }
    return array.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
  }
}
