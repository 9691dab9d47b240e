import Synchronization

/// User id → email, so verifying an access token (every gateway request) needs no database
/// read. Emails never change once an account exists, so an entry is never stale; when full, the
/// oldest entries are dropped first.
final class EmailCache: Sendable {
  private struct State {
    var emails: [String: String] = [:]
    /// Insertion order, for eviction; `head` skips entries already evicted.
    var order: [String] = []
    var head = 0
  }

  private let capacity: Int
  private let state = Mutex(State())

  init(capacity: Int) { self.capacity = capacity }

  func email(for userId: String) -> String? { state.withLock { $0.emails[userId] } }

  func remember(_ email: String, for userId: String) {
    state.withLock { state in
      guard state.emails.updateValue(email, forKey: userId) == nil else { return }
      state.order.append(userId)
      while state.emails.count > capacity {
        state.emails.removeValue(forKey: state.order[state.head])
        state.head += 1
      }
      // Compact now and then so the order list does not grow forever.
      if state.head > capacity {
        state.order.removeFirst(state.head)
        state.head = 0
      }
    }
  }

  var count: Int { state.withLock { $0.emails.count } }
}
