import Foundation

/// Opens client connections: cleartext h2 with prior knowledge, or TLS with ALPN h2.
public enum HTTP2ClientConnector {
  /// Connects to `address` on a loop from `group`, within `timeout`.
  public static func connect(
    to address: SocketAddress, tls: TLSContext?, serverName: String? = nil,
    group: EventLoopGroup = .shared, configuration: HTTP2ConnectionConfiguration = .defaults,
    timeout: Duration = .seconds(10)
  ) async throws -> HTTP2Connection {
    let fd = try Sockets.startConnect(to: address)
    let loop = group.next()
    let session = try tls.map { context throws(TLSError) in
      try TLSSession(context: context, serverName: serverName ?? address.host)
    }
    var connectionConfiguration = configuration
    connectionConfiguration.handshakeTimeout = timeout
    let connection = HTTP2Connection(
      fd: fd, loop: loop, role: .client, tls: session, acceptor: nil, configuration: connectionConfiguration)
    await connection.startClient()
    try await connection.waitUntilConnected()
    return connection
  }
}

extension HTTP2Connection {
  func startClient() {
    markConnecting()
    start(onClose: nil)
  }
}
