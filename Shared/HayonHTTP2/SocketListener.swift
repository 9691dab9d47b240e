import CLinuxShims
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A listening socket registered on one loop; hands every accepted socket to `onAccept`, on the
/// loop thread. Shared by the HTTP/2 and HTTP/1.1 servers.
package final class SocketListener: LoopSelectable, @unchecked Sendable {
  // `@unchecked Sendable`: `fd`, `loop` and `onAccept` are immutable and `closed` is only touched
  // on `loop`.
  package let fd: Int32
  package let loop: EventLoop
  private let onAccept: (Int32) -> Void
  private var closed = false

  package init(fd: Int32, loop: EventLoop, onAccept: @escaping (Int32) -> Void) {
    self.fd = fd
    self.loop = loop
    self.onAccept = onAccept
  }

  package func handleEvents(_ events: UInt32) {
    // Bounded per wake-up so a connection storm cannot starve this loop's other connections.
    for _ in 0..<64 {
      if closed { return }
      let (client, error) = Sockets.accept(fd)
      if client < 0 {
        if error == EINTR || error == ECONNABORTED { continue }
        return  // EAGAIN, or EMFILE and friends: try again on the next readiness event.
      }
      onAccept(client)
    }
  }

  /// Stops accepting and closes the socket. Loop thread.
  package func close() {
    guard !closed else { return }
    closed = true
    loop.deregister(fd: fd)
    Glibc.close(fd)
  }
}
