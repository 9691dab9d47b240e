import Foundation

/// Opens client connections: cleartext h2 with prior knowledge, or TLS with ALPN h2.
public enum HTTP2ClientConnector {
  /// Connects to `address` on `loop`, or on the next loop from `group`, within `timeout`.
  public static func connect(
    to address: SocketAddress, tls: TLSContext?, serverName: String? = nil,
    group: EventLoopGroup = .shared, loop: EventLoop? = nil, configuration: HTTP2ConnectionConfiguration = .defaults,
    timeout: Duration = .seconds(10)
  ) async throws -> HTTP2Connection {
    let fd = try Sockets.startConnect(to: address)
    let loop = loop ?? group.next()
    let session = try tls.map { context throws(TLSError) in
      try TLSSession(context: context, serverName: serverName ?? address.host)
    }
    var connectionConfiguration = configuration
    connectionConfiguration.handshakeTimeout = timeout
    let connection = HTTP2Connection(
      fd: fd, loop: loop, role: .client, tls: session, acceptor: nil, configuration: connectionConfiguration)
    try await connection.connectAsClient()
    return connection
  }
}

extension HTTP2Connection {
  /// Starts the session and waits for the connect (and TLS handshake) in one isolated call, so
  /// no other job on the loop runs between registering the socket and awaiting it.
  func connectAsClient() async throws {
    markConnecting()
    start(onClose: nil)
    try await waitUntilConnected()
  }
}
