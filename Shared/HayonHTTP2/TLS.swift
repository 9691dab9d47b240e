import COpenSSL
import Foundation

/// TLS settings for a server or a client. Paths are PEM files.
public struct TLSConfiguration: Sendable, Hashable {
  /// Certificate chain presented to the peer (required for servers; for clients, mutual TLS).
  public var certificateChainPath: String?
  public var privateKeyPath: String?
  /// CA bundle used to verify the peer. Clients verify the server against it; servers given one
  /// require and verify a client certificate (mutual TLS).
  public var trustRootsPath: String?
  /// Clients only: the name checked against the server certificate and sent as SNI.
  public var serverName: String?

  public init(
    certificateChainPath: String? = nil, privateKeyPath: String? = nil,
    trustRootsPath: String? = nil, serverName: String? = nil
  ) {
    self.certificateChainPath = certificateChainPath
    self.privateKeyPath = privateKeyPath
    self.trustRootsPath = trustRootsPath
    self.serverName = serverName
  }
}

/// A TLS configuration problem found at start-up.
public struct TLSError: Error, Sendable, CustomStringConvertible {
  public var description: String
  init(_ what: String) {
    // Drain OpenSSL's per-thread error queue right away (it is per-thread, like errno).
    var reasons: [String] = []
    while case let code = ERR_get_error(), code != 0 {
      var buffer = [CChar](repeating: 0, count: 256)
      ERR_error_string_n(code, &buffer, buffer.count)
      reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    description = reasons.isEmpty ? what : "\(what): \(reasons.joined(separator: "; "))"
  }
}

/// The application protocols a TLS server accepts through ALPN, in its order of preference, in
/// the wire format (each name preceded by its length byte), and how it picks one of a client's.
struct ALPNSelection: Sendable, Hashable {
  /// The accepted names, length-prefixed and concatenated, like the list a client sends.
  let wire: [UInt8]
  /// A handshake without ALPN means HTTP/1.1; so when `http/1.1` is accepted, a client offering
  /// none of the accepted protocols goes on without ALPN, and otherwise the handshake is refused
  /// (gRPC over TLS requires `h2`).
  let fallsBackToHTTP1: Bool

  init(accepting protocols: [String]) {
    var wire: [UInt8] = []
    for name in protocols {
      let bytes = Array(name.utf8)
      precondition((1...255).contains(bytes.count), "an ALPN protocol name is 1 to 255 bytes")
      wire.append(UInt8(bytes.count))
      wire += bytes
    }
    self.wire = wire
    self.fallsBackToHTTP1 = protocols.contains("http/1.1")
  }

  /// The offset, in the client's `offered` list (wire format), of the name of the first accepted
  /// protocol the client offers, and its length; nil when it offers none. Walks both lists in
  /// place: it runs on every handshake, so it allocates nothing. A truncated entry ends a list.
  func select(from offered: UnsafeBufferPointer<UInt8>) -> (offset: Int, length: Int)? {
    wire.withUnsafeBufferPointer { accepted in
      var acceptedIndex = 0
      while acceptedIndex < accepted.count {
        let wantedLength = Int(accepted[acceptedIndex])
        let wanted = acceptedIndex + 1
        var index = 0
        while index < offered.count {
          let length = Int(offered[index])
          let start = index + 1
          if start + length > offered.count { break }
          if length == wantedLength, Self.equal(offered, start, accepted, wanted, length) {
            return (start, length)
          }
          index = start + length
        }
        acceptedIndex = wanted + wantedLength
      }
      return nil
    }
  }

  private static func equal(
    _ a: UnsafeBufferPointer<UInt8>, _ aStart: Int, _ b: UnsafeBufferPointer<UInt8>, _ bStart: Int, _ count: Int
  ) -> Bool {
    for offset in 0..<count where a[aStart + offset] != b[bStart + offset] { return false }
    return true
  }
}

/// The ALPN selection callback. It cannot capture, so `arg` is the `TLSContext` (unretained: the
/// context outlives every session made from it, see `TLSSession.context`). It points `out` into
/// the client's own buffer, which stays valid for the handshake.
private func selectALPN(
  _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
  _ outLength: UnsafeMutablePointer<UInt8>?, _ input: UnsafePointer<UInt8>?, _ inputLength: UInt32,
  _ arg: UnsafeMutableRawPointer?
) -> Int32 {
  guard let arg, let selection = Unmanaged<TLSContext>.fromOpaque(arg).takeUnretainedValue().alpn else {
    return SSL_TLSEXT_ERR_ALERT_FATAL
  }
  let refusal = selection.fallsBackToHTTP1 ? SSL_TLSEXT_ERR_NOACK : SSL_TLSEXT_ERR_ALERT_FATAL
  guard let input else { return refusal }
  guard let chosen = selection.select(from: UnsafeBufferPointer(start: input, count: Int(inputLength))) else {
    return refusal
  }
  out?.pointee = input + chosen.offset
  outLength?.pointee = UInt8(chosen.length)
  return SSL_TLSEXT_ERR_OK
}

/// An OpenSSL context, configured once and then shared read-only by every connection.
///
/// `@unchecked Sendable`: `SSL_CTX` is safe to share between threads once configured, and this
/// type never mutates it after `init`.
public final class TLSContext: @unchecked Sendable {
  let context: OpaquePointer
  let isServer: Bool
  /// Servers: the protocols ALPN accepts.
  let alpn: ALPNSelection?

  /// A gRPC server's context: ALPN `h2` only; with trust roots, a client certificate is required
  /// and verified against them (mutual TLS).
  public convenience init(server configuration: TLSConfiguration) throws(TLSError) {
    try self.init(
      server: configuration, acceptedProtocols: ["h2"],
      requiresClientCertificate: configuration.trustRootsPath != nil)
  }

  /// A server context whose ALPN accepts `acceptedProtocols` (most preferred first).
  /// `requiresClientCertificate` is separate from `trustRootsPath` on purpose: a public port
  /// (the gateway's) never asks browsers for a certificate, whatever the configuration holds.
  package init(
    server configuration: TLSConfiguration, acceptedProtocols: [String], requiresClientCertificate: Bool
  ) throws(TLSError) {
    guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError("SSL_CTX_new") }
    self.context = context
    self.isServer = true
    self.alpn = ALPNSelection(accepting: acceptedProtocols)
    try configureCommon(configuration)
    guard configuration.certificateChainPath != nil, configuration.privateKeyPath != nil else {
      throw TLSError("a TLS server needs a certificate and a private key")
    }
    SSL_CTX_set_alpn_select_cb(context, selectALPN, Unmanaged.passUnretained(self).toOpaque())
    if requiresClientCertificate {
      guard configuration.trustRootsPath != nil else {
        throw TLSError("requiring client certificates needs trust roots to verify them")
      }
      SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
    }
  }

  public init(client configuration: TLSConfiguration) throws(TLSError) {
    guard let context = SSL_CTX_new(TLS_client_method()) else { throw TLSError("SSL_CTX_new") }
    self.context = context
    self.isServer = false
    self.alpn = nil
    try configureCommon(configuration)
    let protocols: [UInt8] = [2, UInt8(ascii: "h"), UInt8(ascii: "2")]
    // Returns 0 on success, unlike most of OpenSSL.
    guard SSL_CTX_set_alpn_protos(context, protocols, UInt32(protocols.count)) == 0 else {
      throw TLSError("SSL_CTX_set_alpn_protos")
    }
    if configuration.trustRootsPath == nil {
      SSL_CTX_set_default_verify_paths(context)
    }
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
  }

  private func configureCommon(_ configuration: TLSConfiguration) throws(TLSError) {
    _ = hayon_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION)
    _ = hayon_SSL_CTX_set_mode(
      context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
    if let chain = configuration.certificateChainPath {
      guard SSL_CTX_use_certificate_chain_file(context, chain) == 1 else {
        throw TLSError("cannot load certificate chain \(chain)")
      }
    }
    if let key = configuration.privateKeyPath {
      guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
        throw TLSError("cannot load private key \(key)")
      }
      guard SSL_CTX_check_private_key(context) == 1 else {
        throw TLSError("private key does not match the certificate")
      }
    }
    if let roots = configuration.trustRootsPath {
      guard SSL_CTX_load_verify_locations(context, roots, nil) == 1 else {
        throw TLSError("cannot load trust roots \(roots)")
      }
    }
  }

  deinit { SSL_CTX_free(context) }
}

/// One TLS connection over two memory BIOs: the event loop shovels ciphertext between the socket
/// and the BIOs, so OpenSSL never touches the descriptor. Loop-confined.
final class TLSSession {
  enum ReadOutcome {
    case more
    case closed
    case failed(String)
  }

  private let ssl: OpaquePointer
  /// Kept alive for as long as the session: the ALPN callback reads it through an unretained
  /// pointer, and OpenSSL keeps the `SSL_CTX` (and so the callback) as long as the `SSL`.
  private let context: TLSContext
  private let readBIO: OpaquePointer
  private let writeBIO: OpaquePointer
  /// Plaintext accepted before the handshake finished (SSL_write wants to read first).
  private var pendingPlaintext: [UInt8] = []

  init(context: TLSContext, serverName: String?) throws(TLSError) {
    guard let ssl = SSL_new(context.context) else { throw TLSError("SSL_new") }
    guard let readBIO = BIO_new(BIO_s_mem()), let writeBIO = BIO_new(BIO_s_mem()) else {
      SSL_free(ssl)
      throw TLSError("BIO_new")
    }
    self.ssl = ssl
    self.context = context
    self.readBIO = readBIO
    self.writeBIO = writeBIO
    SSL_set_bio(ssl, readBIO, writeBIO)
    if context.isServer {
      SSL_set_accept_state(ssl)
    } else {
      if let serverName {
        _ = hayon_SSL_set_tlsext_host_name(ssl, serverName)
        _ = SSL_set1_host(ssl, serverName)
      }
      SSL_set_connect_state(ssl)
    }
  }

  deinit { SSL_free(ssl) }  // frees both BIOs too

  var handshakeComplete: Bool { SSL_is_init_finished(ssl) == 1 }

  var negotiatedProtocol: String? {
    var data: UnsafePointer<UInt8>?
    var length: UInt32 = 0
    SSL_get0_alpn_selected(ssl, &data, &length)
    guard let data, length > 0 else { return nil }
    return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
  }

  /// Starts (client) or advances the handshake.
  func handshake() -> ReadOutcome {
    let result = SSL_do_handshake(ssl)
    if result == 1 { return .more }
    return classify(result)
  }

  /// Hands ciphertext from the socket to OpenSSL.
  func feedCiphertext(_ bytes: UnsafeRawBufferPointer) {
    guard !bytes.isEmpty else { return }
    _ = BIO_write(readBIO, bytes.baseAddress, Int32(bytes.count))
  }

  /// Decrypts what it can, calling `deliver` with each plaintext chunk.
  func readPlaintext(_ scratch: UnsafeMutableRawBufferPointer, deliver: (UnsafeRawBufferPointer) -> Bool) -> ReadOutcome {
    while true {
      let count = SSL_read(ssl, scratch.baseAddress, Int32(scratch.count))
      if count > 0 {
        if !deliver(UnsafeRawBufferPointer(rebasing: scratch[0..<Int(count)])) { return .failed("rejected") }
        continue
      }
      let outcome = classify(count)
      if case .more = outcome, !pendingPlaintext.isEmpty, handshakeComplete { flushPending() }
      return outcome
    }
  }

  /// Encrypts application bytes; anything that cannot be written yet waits for the handshake.
  func writePlaintext(_ bytes: UnsafeRawBufferPointer) {
    if !pendingPlaintext.isEmpty || !handshakeComplete {
      pendingPlaintext.append(contentsOf: bytes)
      if handshakeComplete { flushPending() }
      return
    }
    write(bytes)
  }

  private func flushPending() {
    let pending = pendingPlaintext
    pendingPlaintext.removeAll()
    pending.withUnsafeBytes { write($0) }
  }

  private func write(_ bytes: UnsafeRawBufferPointer) {
    var offset = 0
    while offset < bytes.count {
      let written = SSL_write(ssl, bytes.baseAddress! + offset, Int32(bytes.count - offset))
      if written <= 0 {
        // With memory BIOs a write only stalls during renegotiation; keep the rest for later.
        ERR_clear_error()
        pendingPlaintext.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        return
      }
      offset += Int(written)
    }
  }

  /// Moves ciphertext OpenSSL produced into `buffer`.
  func drainCiphertext(into buffer: inout ByteQueue) {
    while hayon_BIO_pending(writeBIO) > 0 {
      let pending = Int(hayon_BIO_pending(writeBIO))
      buffer.append(count: pending) { raw in
        Int(BIO_read(writeBIO, raw.baseAddress, Int32(raw.count)))
      }
    }
  }

  /// Queues a close_notify alert.
  func shutdown() {
    _ = SSL_shutdown(ssl)
    ERR_clear_error()
  }

  private func classify(_ result: Int32) -> ReadOutcome {
    let code = SSL_get_error(ssl, result)
    switch code {
    case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
      return .more
    case SSL_ERROR_ZERO_RETURN:
      return .closed
    default:
      let error = TLSError("TLS failure")
      return .failed(error.description)
    }
  }
}
