import HayonHTTP2
@testable import HayonRPC
import HayonTestSupport
import Synchronization
import Testing

/// Every request head an acceptor was given.
private final class HeadRecorder: Sendable {
  private let heads = Mutex<[HTTP2RequestHead]>([])
  func record(_ head: HTTP2RequestHead) { heads.withLock { $0.append(head) } }
  var all: [HTTP2RequestHead] { heads.withLock { $0 } }
}

/// Keeps pseudo-headers and `x-keep…` fields, records each head and answers 200.
private struct RecordingAcceptor: HTTP2StreamAcceptor {
  let recorder: HeadRecorder

  var requestHeaderFilter: (@Sendable (UnsafeRawBufferPointer) -> Bool)? { keepsPseudoAndXKeep }

  func accept(_ head: HTTP2RequestHead, stream: HTTP2StreamHandle) -> (
    delegate: (any HTTP2StreamDelegate)?, reply: HTTP2StreamReply?
  ) {
    recorder.record(head)
    return (nil, .respond(headers: [HTTP2Header(":status", "200")], body: [], trailers: nil))
  }
}

private func keepsPseudoAndXKeep(_ name: UnsafeRawBufferPointer) -> Bool {
  name.first == UInt8(ascii: ":") || name.starts(with: "x-keep")
}

@Suite("request header filter")
struct RequestHeaderFilterTests {
  @Test("an acceptor gets only the fields its filter keeps; dropped fields still count toward the limit")
  func transportFilter() async throws {
    let recorder = HeadRecorder()
    var configuration = HTTP2Server.Configuration(address: SocketAddress(host: "127.0.0.1", port: 0))
    configuration.connection.maxHeaderListSize = 4096
    let server = try HTTP2Server(configuration: configuration, acceptor: RecordingAcceptor(recorder: recorder))
    let address = try await server.start()
    do {
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      try await raw.handshake()
      let pseudo = [
        HTTP2Header(":method", "GET"), HTTP2Header(":scheme", "http"), HTTP2Header(":path", "/a"),
        HTTP2Header(":authority", "x"),
      ]
      try raw.sendHeaders(
        streamID: 1,
        pseudo + [HTTP2Header("x-keep-me", "1"), HTTP2Header("x-drop-me", "2"), HTTP2Header("user-agent", "t")],
        endStream: true)
      #expect(try await eventually { recorder.all.count == 1 })
      let first = try #require(recorder.all.first)
      #expect(first.headers.map(\.name) == [":method", ":scheme", ":path", ":authority", "x-keep-me"])
      #expect(first.headers.last?.value == "1")
      #expect(!first.headerListTooLarge)

      try raw.sendHeaders(
        streamID: 3, pseudo + [HTTP2Header("x-drop-big", String(repeating: "b", count: 5000))], endStream: true)
      #expect(try await eventually { recorder.all.count == 2 })
      let second = try #require(recorder.all.last)
      #expect(second.headerListTooLarge, "a dropped field must still count toward the header list limit")
      #expect(!second.headers.contains { $0.name == "x-drop-big" })
    } catch {
      await server.shutdown(gracePeriod: .seconds(1))
      throw error
    }
    await server.shutdown(gracePeriod: .seconds(1))
  }

  @Test("the RPC server's filter keeps exactly the fields a call is judged by and its metadata")
  func rpcFilterMatchesCallHeaderFields() {
    let names = [
      ":path", ":method", ":scheme", ":authority", ":status", "content-type", "grpc-timeout", "authorization",
      "grpc-encoding", "grpc-status", "grpc-anything", "te", "user-agent", "content-length", "host", "connection",
      "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "x-trace", "trace.id_1-2", "tenant",
      "hostname", "Upper", "bad name", "é", "",
    ]
    for name in names {
      let fields = CallHeaderFields([HTTP2Header(name, "v")])
      let read =
        fields.path != nil || fields.method != nil || fields.contentType != nil || fields.authorization != nil
        || fields.encoding != nil || fields.timeout != nil || !fields.metadata.isEmpty
      let kept = Array(name.utf8).withUnsafeBytes { CallHeaderFields.reads($0) }
      #expect(kept == read, "'\(name)': filter keeps \(kept), CallHeaderFields reads \(read)")
    }
  }
}
