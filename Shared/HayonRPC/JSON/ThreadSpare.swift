#if canImport(Glibc)
import Glibc
#endif

/// One spare object per thread, for a hot path that would otherwise build the same scratch object
/// on every call: the JSON coders keep their working state here between messages. `take` hands
/// the spare over (so a nested use on the same thread, which finds none, builds its own) and
/// `keep` puts one back if the slot is empty. A thread's spare is released when the thread ends.
///
/// Only objects no other thread can reach go in, so nothing here needs a lock: each thread sees
/// only its own slot.
final class ThreadSpare<Object: AnyObject>: Sendable {
  private let key: pthread_key_t

  init() {
    var key = pthread_key_t()
    let status = pthread_key_create(&key) { pointer in
      if let pointer { Unmanaged<AnyObject>.fromOpaque(pointer).release() }
    }
    precondition(status == 0, "pthread_key_create failed (\(status))")
    self.key = key
  }

  func take() -> Object? {
    guard let pointer = pthread_getspecific(key) else { return nil }
    pthread_setspecific(key, nil)
    return Unmanaged<Object>.fromOpaque(pointer).takeRetainedValue()
  }

  func keep(_ object: Object) {
    guard pthread_getspecific(key) == nil else { return }
    pthread_setspecific(key, Unmanaged.passRetained(object).toOpaque())
  }
}
