import CLinuxShims
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A failed system call, with the errno read right after it.
public struct SocketError: Error, Sendable, CustomStringConvertible {
  public var call: String
  public var errno: Int32
  public init(call: String, errno: Int32) {
    self.call = call
    self.errno = errno
  }
  public var description: String { "\(call) failed: \(String(cString: strerror(errno)))" }
}

/// A host and port to listen on or connect to.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
  public var host: String
  public var port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `host:port` or `[v6]:port`.
  public init?(parsing text: String) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (0...65535).contains(port)
    else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty else { return nil }
    self.init(host: host, port: port)
  }

  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Thin wrappers over the socket calls; each reads errno immediately after the call.
package enum Sockets {
  package static func resolve(_ address: SocketAddress, passive: Bool) throws(SocketError) -> (
    family: Int32, storage: sockaddr_storage, length: socklen_t
  ) {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
    var result: UnsafeMutablePointer<addrinfo>?
    let status = getaddrinfo(address.host, String(address.port), &hints, &result)
    guard status == 0, let info = result else {
      throw SocketError(call: "getaddrinfo(\(address.host))", errno: status == EAI_SYSTEM ? errno : EINVAL)
    }
    defer { freeaddrinfo(result) }
    var storage = sockaddr_storage()
    let length = info.pointee.ai_addrlen
    withUnsafeMutableBytes(of: &storage) { raw in
      raw.copyMemory(from: UnsafeRawBufferPointer(start: info.pointee.ai_addr, count: Int(length)))
    }
    return (info.pointee.ai_family, storage, length)
  }

  /// A non-blocking listening socket. Returns the descriptor and the port actually bound.
  package static func listen(on address: SocketAddress, backlog: Int32 = 1024) throws(SocketError) -> (Int32, Int) {
    let (family, storage, length) = try resolve(address, passive: true)
    let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError(call: "socket", errno: errno) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var bindStorage = storage
    let bound = withUnsafePointer(to: &bindStorage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    if bound != 0 {
      let error = errno
      close(fd)
      throw SocketError(call: "bind(\(address))", errno: error)
    }
    if Glibc.listen(fd, backlog) != 0 {
      let error = errno
      close(fd)
      throw SocketError(call: "listen", errno: error)
    }
    return (fd, localPort(fd))
  }

  package static func localPort(_ fd: Int32) -> Int {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    _ = withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return withUnsafeBytes(of: &storage) { raw -> Int in
      let family = raw.load(as: sa_family_t.self)
      if Int32(family) == AF_INET6 {
        return Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
      }
      return Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
    }
  }

  /// Starts a non-blocking connect. Returns the descriptor; completion is signalled by
  /// writability, then `connectResult` tells whether it succeeded.
  package static func startConnect(to address: SocketAddress) throws(SocketError) -> Int32 {
    let (family, storage, length) = try resolve(address, passive: false)
    let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError(call: "socket", errno: errno) }
    var target = storage
    let result = withUnsafePointer(to: &target) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
    }
    if result != 0 {
      let error = errno
      if error != EINPROGRESS {
        close(fd)
        throw SocketError(call: "connect(\(address))", errno: error)
      }
    }
    setNoDelay(fd)
    return fd
  }

  package static func connectResult(_ fd: Int32) -> Int32 {
    var error: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
    return error
  }

  package static func setNoDelay(_ fd: Int32) {
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
  }

  package static func accept(_ listener: Int32) -> (fd: Int32, errno: Int32) {
    let fd = hayon_accept4(listener, nil, nil, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
    return (fd, fd < 0 ? errno : 0)
  }
}
