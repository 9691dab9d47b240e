import Dispatch
import Foundation

/// Waits for SIGTERM or SIGINT. The signals are ignored first, so the default action never kills
/// the process, then observed through Dispatch sources.
final class ShutdownSignals {
  private let sources: [any DispatchSourceSignal]
  private let stream: AsyncStream<Int32>
  private let continuation: AsyncStream<Int32>.Continuation

  init() {
    (stream, continuation) = AsyncStream<Int32>.makeStream()
    let continuation = self.continuation
    sources = [SIGTERM, SIGINT].map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { continuation.yield(number) }
      source.resume()
      return source
    }
  }

  func wait() async {
    for await _ in stream { return }
  }
}
