import Foundation
import HayonCrypto
import HayonHTTP1
import HayonHTTP2
import Synchronization

/// Serves a `Gateway` on one port: HTTP/1.1 (strict parser), and HTTP/2 on the same port, with
/// prior knowledge or via `Upgrade: h2c` (the HTTP/1.1 server hands those connections over).
/// With TLS configured the port speaks TLS only, with ALPN `h2` or `http/1.1` (terminated in
/// front of the same HTTP/1.1 server, so both protocols share every route and limit).
public final class GatewayServer: Sendable {
  public struct Configuration: Sendable {
    public var address: SocketAddress
    public var tls: TLSConfiguration?
    public var http1: HTTP1Server.Configuration
    public var http2 = HTTP2ConnectionConfiguration.defaults
    /// Request bodies above this are refused on HTTP/2 (HTTP/1.1 has the parser's own limit).
    public var maxRequestBodyBytes = 1024 * 1024
    public var shutdownGracePeriod: Duration = .seconds(10)

    public init(address: SocketAddress, tls: TLSConfiguration? = nil) {
      self.address = address
      self.tls = tls
      self.http1 = HTTP1Server.Configuration(address: address)
      http2.idleTimeout = .seconds(60)
    }
  }

  public let configuration: Configuration
  public let gateway: Gateway
  private let http1: HTTP1Server
  private let terminator: TLSTerminator?
  private let adopted: AdoptedConnections

  public init(configuration: Configuration, gateway: Gateway, group: EventLoopGroup = .shared) throws {
    self.configuration = configuration
    self.gateway = gateway
    let acceptor = GatewayStreamAcceptor(
      gateway: gateway, maxBodyBytes: configuration.maxRequestBodyBytes, isSecure: configuration.tls != nil)
    // HTTP/2 connections leave the HTTP/1.1 server's table when handed over, so they are bounded
    // here, by the same limit.
    let adopted = AdoptedConnections(maxConnections: configuration.http1.maxConnections)
    self.adopted = adopted
    var http1Configuration = configuration.http1
    http1Configuration.address = configuration.address
    http1Configuration.http2Handoff = GatewayHTTP2Handoff(
      acceptor: acceptor, configuration: configuration.http2, adopted: adopted)
    // Requests refused before routing (unparseable, too slow, over a limit) get a request id too.
    http1Configuration.transportErrorHeaders = { ["x-request-id": RequestIDs.next()] }
    let isSecure = configuration.tls != nil
    let http1 = HTTP1Server(configuration: http1Configuration, group: group) { request in
      let parsed = GatewayRequest.parse(
        method: request.method, target: request.target, headers: request.headers, body: request.body,
        protocolName: request.version.description, isSecure: isSecure)
      let response: GatewayResponse
      switch parsed {
      case .success(let gatewayRequest): response = await gateway.handle(gatewayRequest)
      case .failure(let error): response = gateway.rejected(error, headers: request.headers)
      }
      return HTTPResponse(status: response.status, headers: response.headers, body: response.body)
    }
    self.http1 = http1
    if let tls = configuration.tls {
      // TLS is terminated in front of the same HTTP/1.1 server: ALPN `h2` clients then send the
      // HTTP/2 preface, which the hand-off seam passes to HTTP/2 as for cleartext.
      terminator = try TLSTerminator(
        address: configuration.address, tls: tls, group: group, maxConnections: configuration.http1.maxConnections
      ) { fd in http1.adopt(fd: fd) }
    } else {
      terminator = nil
    }
  }

  /// Binds and starts serving; the bound address (a real port when asked for 0).
  public func start() async throws -> SocketAddress {
    if let terminator { return try await terminator.start() }
    return try await http1.start()
  }

  /// Open connections speaking HTTP/1.1, and those handed over to HTTP/2.
  public var connectionCounts: (http1: Int, http2: Int) { (http1.connectionCount, adopted.count) }

  /// Stops accepting, lets requests in flight finish (up to the grace period), closes the rest.
  public func shutdown() async {
    let grace = configuration.shutdownGracePeriod
    if let terminator { await terminator.shutdown() }
    await http1.shutdown(gracePeriod: grace)
    await adopted.shutdown(gracePeriod: grace)
  }
}

/// HTTP/2 connections taken over from the HTTP/1.1 server, kept for shutdown.
final class AdoptedConnections: Sendable {
  private struct State {
    var connections: [ObjectIdentifier: HTTP2Connection] = [:]
    var shuttingDown = false
  }
  private let state = Mutex(State())

  let maxConnections: Int

  init(maxConnections: Int) { self.maxConnections = maxConnections }

  /// False once shutting down or full (the caller closes the connection instead).
  func insert(_ connection: HTTP2Connection) -> Bool {
    state.withLock { state in
      guard !state.shuttingDown, state.connections.count < maxConnections else { return false }
      state.connections[ObjectIdentifier(connection)] = connection
      return true
    }
  }

  var count: Int { state.withLock { $0.connections.count } }

  func remove(_ id: ObjectIdentifier) {
    _ = state.withLock { $0.connections.removeValue(forKey: id) }
  }

  func shutdown(gracePeriod: Duration) async {
    let connections = state.withLock { state in
      state.shuttingDown = true
      return Array(state.connections.values)
    }
    for connection in connections {
      await connection.beginGracefulShutdown(gracePeriod: gracePeriod)
    }
    for connection in connections {
      await connection.waitUntilClosed()
    }
  }
}

/// Takes the connections that speak HTTP/2 on the HTTP/1.1 port.
struct GatewayHTTP2Handoff: HTTP1ProtocolHandoff {
  let acceptor: GatewayStreamAcceptor
  let configuration: HTTP2ConnectionConfiguration
  let adopted: AdoptedConnections

  func adopt(_ handed: HTTP1HandedOffConnection) {
    let connection = HTTP2Connection.adoptedServer(
      fd: handed.fd, loop: handed.loop, acceptor: acceptor, configuration: configuration)
    var upgrade: HTTP2Upgrade?
    if case .h2cUpgrade(let request) = handed.kind {
      upgrade = Self.upgrade(from: request)
    }
    guard adopted.insert(connection) else {
      close(handed.fd)
      return
    }
    let id = ObjectIdentifier(connection)
    let adopted = self.adopted
    let initial = handed.bufferedBytes
    connection.assumeIsolated { connection in
      connection.startAdopted(initialBytes: initial, upgrade: upgrade, onClose: { adopted.remove(id) })
    }
  }

  /// The HTTP/1.1 upgrade request as HTTP/2 stream 1's head.
  static func upgrade(from request: HTTPRequest) -> HTTP2Upgrade {
    var headers = [
      HTTP2Header(":method", request.method), HTTP2Header(":scheme", "http"),
      HTTP2Header(":authority", request.headers["host"] ?? ""), HTTP2Header(":path", request.target),
    ]
    let hopByHop: Set<String> = [
      "connection", "upgrade", "http2-settings", "host", "keep-alive", "proxy-connection", "transfer-encoding", "te",
      "content-length",
    ]
    for field in request.headers where !hopByHop.contains(field.name.lowercased()) {
      headers.append(HTTP2Header(field.name.lowercased(), field.value))
    }
    // RFC 7540 §3.2.1: base64url without padding; a SETTINGS payload is a multiple of
    // 6 bytes, so it never needs padding and the strict shared decoder is the right one.
    let settings = Base64URL.decode(request.headers["http2-settings"] ?? "") ?? []
    return HTTP2Upgrade(
      settingsPayload: settings.count % 6 == 0 ? settings : [], headers: headers, body: request.body,
      isHead: request.method == "HEAD")
  }
}

/// Each HTTP/2 request stream: collects the body, then runs the gateway and responds.
struct GatewayStreamAcceptor: HTTP2StreamAcceptor {
  let gateway: Gateway
  let maxBodyBytes: Int
  /// The port is TLS (terminated before HTTP/2 sees the bytes).
  let isSecure: Bool

  func accept(_ head: HTTP2RequestHead, stream: HTTP2StreamHandle) -> (
    delegate: (any HTTP2StreamDelegate)?, reply: HTTP2StreamReply?
  ) {
    if head.headerListTooLarge {
      let error = APIError(status: 431, code: "request_header_fields_too_large", message: "the header list is too large")
      // Refused before its fields are read, like an oversized head on HTTP/1.1: a new id.
      return (nil, Self.reply(gateway.rejected(error, headers: HTTPFields()), isHead: false))
    }
    var head = head
    head.isSecure = head.isSecure || isSecure
    return (GatewayStreamDelegate(head: head, gateway: gateway, maxBodyBytes: maxBodyBytes), nil)
  }

  static let connectionSpecific: Set<String> = ["connection", "transfer-encoding", "keep-alive", "upgrade", "proxy-connection"]

  static func responseHeaders(_ response: GatewayResponse) -> [HTTP2Header] {
    var headers = [HTTP2Header(":status", String(response.status))]
    for field in response.headers {
      // Routes write names lower-case already; only others pay for a lower-cased copy.
      let name = field.name.utf8.contains { $0 >= 0x41 && $0 <= 0x5A } ? field.name.lowercased() : field.name
      if connectionSpecific.contains(name) || name == "content-length" { continue }
      headers.append(HTTP2Header(name, field.value))
    }
    if response.status != 204 && response.status != 304 {
      headers.append(HTTP2Header("content-length", String(response.body.count)))
    }
    return headers
  }

  static func reply(_ response: GatewayResponse, isHead: Bool) -> HTTP2StreamReply {
    .respond(headers: responseHeaders(response), body: isHead ? [] : response.body, trailers: nil)
  }
}

final class GatewayStreamDelegate: HTTP2StreamDelegate {
  let head: HTTP2RequestHead
  let gateway: Gateway
  let maxBodyBytes: Int
  var body: [UInt8] = []
  var refused = false
  var task: Task<Void, Never>?

  init(head: HTTP2RequestHead, gateway: Gateway, maxBodyBytes: Int) {
    self.head = head
    self.gateway = gateway
    self.maxBodyBytes = maxBodyBytes
  }

  func receive(_ event: HTTP2StreamEvent, stream: HTTP2StreamHandle) -> HTTP2StreamReply? {
    guard !refused else { return nil }
    switch event {
    case .headers:
      return nil  // trailers: ignored
    case .data(let bytes):
      if body.count + bytes.count > maxBodyBytes {
        refused = true
        // Over a size limit, like an oversized body on HTTP/1.1 (which the parser refuses): a new id.
        return GatewayStreamAcceptor.reply(gateway.rejected(.payloadTooLarge(maxBodyBytes), headers: HTTPFields()), isHead: false)
      }
      body.append(contentsOf: bytes)
      return nil
    case .end:
      let request = makeRequest()
      let gateway = self.gateway
      let isHead = head.method == "HEAD"
      switch request {
      case .failure(let error):
        return GatewayStreamAcceptor.reply(gateway.rejected(error, headers: clientRequestId), isHead: isHead)
      case .success(let request):
        task = Task(executorPreference: stream.connection.loop.taskExecutor) {
          let response = await gateway.handle(request)
          guard !Task.isCancelled else { return }
          await stream.respond(
            headers: GatewayStreamAcceptor.responseHeaders(response), body: isHead ? [] : response.body, trailers: nil)
        }
        return nil
      }
    }
  }

  func closed(_ reason: HTTP2StreamCloseReason) {
    if reason != .finished { task?.cancel() }
  }

  /// The client's `x-request-id`, for a refusal to reuse when it is sane.
  private var clientRequestId: HTTPFields {
    var fields = HTTPFields()
    if let id = head.headers[first: "x-request-id"] { fields.add("x-request-id", id) }
    return fields
  }

  func makeRequest() -> Result<GatewayRequest, APIError> {
    guard let method = head.method, let target = head.path, !method.isEmpty else {
      return .failure(.badRequest("the request lacks :method or :path"))
    }
    var fields = HTTPFields()
    for header in head.headers {
      if header.name.hasPrefix(":") {
        if header.name == ":authority" { fields.add("host", header.value) }
        continue
      }
      fields.add(header.name, header.value)
    }
    return GatewayRequest.parse(
      method: method, target: target, headers: fields, body: body, protocolName: "HTTP/2", isSecure: head.isSecure)
  }
}
