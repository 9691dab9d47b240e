import Dispatch
import Foundation
import Synchronization

/// Waits for SIGTERM or SIGINT. The signals are ignored first, so the default action never kills
/// the process, then observed through Dispatch sources. The first one starts a graceful
/// shutdown; a second one, while draining, exits at once.
///
/// Create it before the server starts, so a signal that arrives during start-up is not lost.
///
/// `@unchecked Sendable`: every stored property is set once in `init`; the Dispatch sources are
/// only kept alive here, never touched again.
public final class ShutdownSignals: @unchecked Sendable {
  private let sources: [any DispatchSourceSignal]
  private let stream: AsyncStream<Int32>

  public init(program: String) {
    let (stream, continuation) = AsyncStream<Int32>.makeStream()
    self.stream = stream
    let received = Atomic<Int>(0)
    sources = [SIGTERM, SIGINT].map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler {
        if received.add(1, ordering: .relaxed).oldValue == 0 {
          continuation.yield(number)
        } else {
          FileHandle.standardError.write(Data("\(program): second signal, exiting without waiting\n".utf8))
          exit(1)
        }
      }
      source.resume()
      return source
    }
  }

  /// Returns at the first SIGTERM or SIGINT.
  public func wait() async {
    for await _ in stream { return }
  }
}
