import Dispatch
import HayonCrypto
import Synchronization

/// Runs scrypt off the Swift concurrency pool, a bounded number at a time.
///
/// A hash at the default cost takes tens of milliseconds of CPU and ~32 MiB; run inline it
/// would block a cooperative thread (there is one per core), and run without a bound a burst of
/// logins could take gigabytes. Each of `width` serial queues runs one hash at a time; callers
/// beyond `width + maximumQueued` are refused at once instead of waiting without bound.
final class PasswordHashingPool: Sendable {
  private let queues: [DispatchQueue]
  private let maximumOutstanding: Int
  private let state = Mutex<(next: Int, outstanding: Int, finished: Int)>((0, 0, 0))

  init(width: Int, maximumQueued: Int) {
    queues = (0..<width).map { DispatchQueue(label: "hayon.users.password-hashing.\($0)") }
    maximumOutstanding = width + maximumQueued
  }

  /// Jobs run to completion so far (for metrics, and for tests that check every login costs
  /// one hash).
  var finishedJobs: Int { state.withLock { $0.finished } }

  /// Runs `work` on one of the queues; `.hashingBusy` when too many are outstanding.
  func run<Value: Sendable>(
    _ work: @escaping @Sendable () throws(CryptoError) -> Value
  ) async throws(UsersError) -> Result<Value, CryptoError> {
    let queue: DispatchQueue? = state.withLock { state in
      guard state.outstanding < maximumOutstanding else { return nil }
      state.outstanding += 1
      state.next = (state.next + 1) % queues.count
      return queues[state.next]
    }
    guard let queue else { throw .hashingBusy }
    defer {
      state.withLock {
        $0.outstanding -= 1
        $0.finished += 1
      }
    }
    // Not cancellable once queued: scrypt cannot be interrupted, and the slot frees itself
    // when it finishes.
    return await withCheckedContinuation { continuation in
      queue.async {
        do throws(CryptoError) { continuation.resume(returning: .success(try work())) } catch {
          continuation.resume(returning: .failure(error))
        }
      }
    }
  }
}
