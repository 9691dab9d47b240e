import HayonHTTP2
@testable import HayonRPC
import HayonTestSupport
import Synchronization
import Testing

/// What a recording acceptor saw: each head, and each request's fields as its reader got them.
private final class Recording: Sendable {
  struct Request: Sendable {
    var headers: [HTTP2Header]
    var readerFields: [HTTP2Header]
    var readerWasOurs: Bool
    var headerListTooLarge: Bool
  }
  private let requests = Mutex<[Request]>([])
  private let readersMade = Mutex(0)
  func record(_ request: Request) { requests.withLock { $0.append(request) } }
  func madeReader() { readersMade.withLock { $0 += 1 } }
  var all: [Request] { requests.withLock { $0 } }
  var readerCount: Int { readersMade.withLock { $0 } }
}

/// Keeps every field it is given as text (a test reader; the RPC one keeps much less).
private final class FieldListReader: HTTP2RequestFieldReader, @unchecked Sendable {
  var fields: [HTTP2Header] = []
  override func reset() { fields = [] }
  override func read(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
    fields.append(HTTP2Header(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
  }
}

private struct RecordingAcceptor: HTTP2StreamAcceptor {
  let recording: Recording

  func makeRequestFieldReader() -> HTTP2RequestFieldReader? {
    recording.madeReader()
    return FieldListReader()
  }

  func accept(_ head: HTTP2RequestHead, stream: HTTP2StreamHandle) -> (
    delegate: (any HTTP2StreamDelegate)?, reply: HTTP2StreamReply?
  ) {
    let reader = head.fieldReader as? FieldListReader
    recording.record(
      .init(
        headers: head.headers, readerFields: reader?.fields ?? [], readerWasOurs: reader != nil,
        headerListTooLarge: head.headerListTooLarge))
    return (nil, .respond(headers: [HTTP2Header(":status", "200")], body: [], trailers: nil))
  }
}

@Suite("request field reader")
struct RequestFieldReaderTests {
  @Test("a connection's reader gets each request's fields as bytes, afresh per request; over-limit fields are not delivered")
  func transportReader() async throws {
    let recording = Recording()
    var configuration = HTTP2Server.Configuration(address: SocketAddress(host: "127.0.0.1", port: 0))
    configuration.connection.maxHeaderListSize = 4096
    let server = try HTTP2Server(configuration: configuration, acceptor: RecordingAcceptor(recording: recording))
    let address = try await server.start()
    do {
      let raw = try RawHTTP2Client(connectingTo: address)
      defer { raw.close() }
      try await raw.handshake()
      let pseudo = [
        HTTP2Header(":method", "GET"), HTTP2Header(":scheme", "http"), HTTP2Header(":path", "/a"),
        HTTP2Header(":authority", "x"),
      ]
      let first = pseudo + [HTTP2Header("x-one", "1"), HTTP2Header("user-agent", "t")]
      try raw.sendHeaders(streamID: 1, first, endStream: true)
      #expect(try await eventually { recording.all.count == 1 })
      let seenFirst = try #require(recording.all.first)
      #expect(seenFirst.readerWasOurs)
      #expect(seenFirst.headers.isEmpty, "fields a reader took are not made into text as well")
      #expect(seenFirst.readerFields == first)
      #expect(!seenFirst.headerListTooLarge)

      let second = pseudo + [HTTP2Header("x-two", "2")]
      try raw.sendHeaders(streamID: 3, second, endStream: true)
      #expect(try await eventually { recording.all.count == 2 })
      #expect(recording.all[1].readerFields == second, "the reader starts afresh for each request")

      try raw.sendHeaders(
        streamID: 5, pseudo + [HTTP2Header("x-big", String(repeating: "b", count: 5000)), HTTP2Header("x-after", "3")],
        endStream: true)
      #expect(try await eventually { recording.all.count == 3 })
      let third = recording.all[2]
      #expect(third.headerListTooLarge)
      #expect(third.readerFields == pseudo, "fields past the limit are not delivered")
      #expect(recording.readerCount == 1, "one reader per connection")
    } catch {
      await server.shutdown(gracePeriod: .seconds(1))
      throw error
    }
    await server.shutdown(gracePeriod: .seconds(1))
  }

  private static let echo = MethodDescriptor(service: "test.v1.T", method: "Echo")
  private static let other = MethodDescriptor(service: "test.v1.T", method: "Other")

  private func makeReader() -> CallFieldReader {
    var router = RPCRouter()
    for descriptor in [Self.echo, Self.other] {
      router.registerRaw(descriptor, subtypes: [""], requiresAuthentication: true) { bytes, _, _ in bytes }
    }
    var configuration = RPCServer.Configuration(
      address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: "s3cret"))
    configuration.maxConnections = 1
    return CallFieldReader(for: CallAcceptor(router: router, configuration: configuration))
  }

  private func read(_ reader: CallFieldReader, _ fields: [(String, String)]) {
    reader.reset()
    for (name, value) in fields {
      Array(name.utf8).withUnsafeBytes { name in
        Array(value.utf8).withUnsafeBytes { value in reader.read(name: name, value: value) }
      }
    }
  }

  @Test("the RPC reader picks out what a call is judged by; the first occurrence counts")
  func callFields() {
    let reader = makeReader()
    read(reader, [
      (":method", "POST"), (":scheme", "http"), (":path", Self.echo.path), (":authority", "x"),
      ("content-type", "application/grpc"), ("te", "trailers"), ("authorization", "Bearer s3cret"),
      ("grpc-timeout", "5S"), ("grpc-encoding", "identity"), ("x-trace", "abc"), ("tenant", "t1"),
      ("user-agent", "ua"), ("grpc-custom", "no"), (":path", Self.other.path), ("authorization", "Bearer wrong"),
      ("content-type", "text/plain"), (":method", "GET"),
    ])
    #expect(reader.methodIsPost == true)
    #expect(reader.path == Self.echo.path)
    #expect(reader.route?.descriptor == Self.echo)
    #expect(reader.subtype == "")
    #expect(reader.authorized)
    #expect(reader.timeout == "5S")
    #expect(reader.encoding == "identity")
    let metadata = reader.takeMetadata()
    #expect(metadata.entries.map(\.name) == ["x-trace", "tenant"])
    #expect(metadata.entries.map(\.value) == ["abc", "t1"])
    #expect(reader.takeMetadata().isEmpty, "metadata is handed over once")
  }

  @Test("each request is judged on its own fields: reset forgets the previous request")
  func resetForgets() {
    let reader = makeReader()
    read(reader, [(":method", "POST"), (":path", Self.echo.path), ("content-type", "application/grpc+json"),
                  ("authorization", "Bearer s3cret"), ("grpc-timeout", "1m"), ("x-a", "1")])
    #expect(reader.subtype == "json")
    read(reader, [(":path", Self.other.path)])
    #expect(reader.methodIsPost == nil)
    #expect(reader.route?.descriptor == Self.other)
    #expect(reader.subtype == nil)
    #expect(!reader.authorized)
    #expect(reader.timeout == nil)
    #expect(reader.encoding == nil)
    #expect(reader.takeMetadata().isEmpty)
    read(reader, [])
    #expect(reader.path == "")
    #expect(reader.route == nil)
  }

  @Test("paths: a repeated path reuses its route, a changed or unknown one is looked up")
  func pathsAndRoutes() {
    let reader = makeReader()
    read(reader, [(":path", Self.echo.path)])
    let first = reader.route
    read(reader, [(":path", Self.echo.path)])
    #expect(reader.route === first)
    read(reader, [(":path", Self.other.path)])
    #expect(reader.route?.descriptor == Self.other)
    read(reader, [(":path", "/test.v1.T/Nope")])
    #expect(reader.route == nil)
    #expect(reader.path == "/test.v1.T/Nope")
    read(reader, [(":path", Self.echo.path + "x")])
    #expect(reader.route == nil)
    read(reader, [(":path", Self.echo.path)])
    #expect(reader.route?.descriptor == Self.echo)
  }

  @Test("content-types and credentials, byte for byte")
  func contentTypesAndCredentials() {
    let reader = makeReader()
    let cases: [(String, String?)] = [
      ("application/grpc", ""), ("application/grpc+json", "json"), ("application/grpc+proto", "proto"),
      ("Application/GRPC; charset=utf-8", ""), ("application/grpcx", nil), ("application/json", nil), ("", nil),
    ]
    for (value, subtype) in cases {
      read(reader, [("content-type", value)])
      #expect(reader.subtype == subtype, "content-type '\(value)'")
    }
    for (value, authorized) in [
      ("Bearer s3cret", true), ("Bearer s3cres", false), ("Bearer s3cret ", false), ("Bearer s3cre", false),
      ("bearer s3cret", false), ("", false),
    ] {
      read(reader, [("authorization", value)])
      #expect(reader.authorized == authorized, "authorization '\(value)'")
    }
    read(reader, [])
    #expect(!reader.authorized, "no authorization field is not authorized")
  }

  @Test("which names are metadata, which are the call's, which are ignored")
  func nameClassification() {
    let reader = makeReader()
    let names = [
      ":scheme", ":authority", ":status", "grpc-status", "grpc-anything", "te", "user-agent", "content-length",
      "host", "connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "x-trace",
      "trace.id_1-2", "tenant", "hostname", "Upper", "bad name", "é", "",
    ]
    read(reader, names.map { ($0, "v") })
    #expect(reader.takeMetadata().entries.map(\.name) == ["x-trace", "trace.id_1-2", "tenant", "hostname"])
  }
}
