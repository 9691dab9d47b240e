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
        if error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM { pauseAccepting() }
        return  // EAGAIN: wait for the next readiness event.
      }
      onAccept(client)
    }
  }

  /// Out of descriptors or memory: the pending connection stays in the backlog and the
  /// level-triggered readiness would spin this loop, so stop listening for a moment.
  private func pauseAccepting() {
    loop.modify(fd: fd, events: 0)
    loop.scheduleTimer(afterNanoseconds: 100_000_000) { [self] in
      if !closed { loop.modify(fd: fd, events: EPOLLIN.rawValue) }
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
