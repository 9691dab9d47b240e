import CLinuxShims
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Something registered with an event loop for readiness events. Only ever called on the loop's
/// thread.
package protocol LoopSelectable: AnyObject {
  func handleEvents(_ events: UInt32)
}

/// Work a loop runs once an iteration's I/O and queued jobs are done (see `runWhenIdle`). An
/// object rather than a closure, so scheduling it allocates nothing.
package protocol LoopIdleWork: AnyObject {
  func runWhenLoopIdle()
}

/// One epoll thread. It is a `SerialExecutor`, so an actor (a connection) can be pinned to it and
/// run on the I/O thread, and it offers a `TaskExecutor` so request handlers can run on the same
/// thread as their connection instead of hopping through the global pool on every call.
///
/// `@unchecked Sendable`: the mutable state is either the `Mutex`-protected work queue, or
/// loop-confined (registrations, timers) and only touched on the loop thread, which
/// `preconditionInLoop()` guards.
public final class EventLoop: SerialExecutor, @unchecked Sendable {
  private enum Work {
    case job(UnownedJob)
    case taskJob(UnownedJob)
    case closure(@Sendable () -> Void)
  }

  private struct Timer {
    var deadline: UInt64
    var id: UInt64
  }

  private let epollFD: Int32
  private let wakeFD: Int32
  private let queue = Mutex<(work: [Work], wakePending: Bool)>(([], false))
  private let threadID = Atomic<UInt>(0)
  private let stopRequested = Atomic<Bool>(false)
  private let stopped = Mutex<[CheckedContinuation<Void, Never>]?>([])

  // Loop-confined state.
  private var registrations: [Int32: any LoopSelectable] = [:]
  private var timerHeap: [Timer] = []
  private var timerBodies: [UInt64: () -> Void] = [:]
  private var nextTimerID: UInt64 = 1
  private var cancelledInHeap = 0
  private var idleWork: [any LoopIdleWork] = []
  private var idleBatch: [any LoopIdleWork] = []
  /// The queue's work being run (loop thread only; swapped with the queue's buffer).
  private var drainBatch: [Work] = []

  public let name: String
  /// Read buffers shared by every connection on this loop (loop thread only).
  package let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
  let tlsScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
  /// This loop as a `TaskExecutor`. Set once in `init`, before the thread starts.
  public private(set) var taskExecutor: LoopTaskExecutor!

  public init(name: String) {
    self.name = name
    self.epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
    precondition(epollFD >= 0, "epoll_create1 failed: \(errno)")
    self.wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
    precondition(wakeFD >= 0, "eventfd failed: \(errno)")
    var event = epoll_event()
    event.events = EPOLLIN.rawValue
    event.data.fd = wakeFD
    _ = epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event)
    taskExecutor = LoopTaskExecutor(loop: self)
    let thread = Thread { [self] in self.run() }
    thread.name = name
    thread.start()
    // Wait until the thread has published its id, so isolation checks work from the start.
    while threadID.load(ordering: .acquiring) == 0 { sched_yield() }
  }

  deinit {
    scratch.deallocate()
    tlsScratch.deallocate()
    close(epollFD)
    close(wakeFD)
  }

  // MARK: Executor conformance

  public func enqueue(_ job: consuming ExecutorJob) {
    push(.job(UnownedJob(job)))
  }

  public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
    UnownedSerialExecutor(ordinary: self)
  }

  public func checkIsolated() {
    precondition(inLoop, "not on event loop \(name)")
  }

  public func isIsolatingCurrentContext() -> Bool? { inLoop }

  public func isSameExclusiveExecutionContext(other: EventLoop) -> Bool { other === self }

  /// True when the caller is running on this loop's thread.
  public var inLoop: Bool { hayon_thread_self() == threadID.load(ordering: .relaxed) }

  func preconditionInLoop() {
    precondition(inLoop, "must run on event loop \(name)")
  }

  /// Runs `body` on the loop thread, soon.
  public func execute(_ body: @escaping @Sendable () -> Void) {
    push(.closure(body))
  }

  fileprivate func pushTaskJob(_ job: UnownedJob) {
    push(.taskJob(job))
  }

  private func push(_ work: Work) {
    let mustWake = queue.withLock { state -> Bool in
      state.work.append(work)
      if state.wakePending { return false }
      state.wakePending = true
      return true
    }
    // On the loop thread the queue is drained before the next epoll_wait, so no wake-up write.
    if mustWake && !inLoop {
      var one: UInt64 = 1
      _ = write(wakeFD, &one, 8)
    }
  }

  // MARK: Registration (loop thread only)

  package func register(fd: Int32, events: UInt32, handler: any LoopSelectable) throws(SocketError) {
    var event = epoll_event()
    event.events = events
    event.data.fd = fd
    if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) != 0 {
      throw SocketError(call: "epoll_ctl(ADD)", errno: errno)
    }
    registrations[fd] = handler
  }

  package func modify(fd: Int32, events: UInt32) {
    var event = epoll_event()
    event.events = events
    event.data.fd = fd
    _ = epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event)
  }

  package func deregister(fd: Int32) {
    if registrations.removeValue(forKey: fd) != nil {
      _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
    }
  }

  /// Runs `body` on the loop once the queued work of this iteration is done. Connections use it
  /// to write once for everything their streams produced in the iteration, instead of one
  /// syscall per response. Loop thread only.
  package func runWhenIdle(_ work: any LoopIdleWork) {
    idleWork.append(work)
  }

  private func runIdleWork() {
    // Two buffers, swapped: the batch runs from one while new work lands in the other, and both
    // keep their capacity, so an iteration allocates nothing here.
    while !idleWork.isEmpty {
      swap(&idleWork, &idleBatch)
      for work in idleBatch { work.runWhenLoopIdle() }
      idleBatch.removeAll(keepingCapacity: true)
    }
  }

  // MARK: Timers (loop thread only)

  /// Schedules `body` to run on the loop after `delay` nanoseconds. Returns an id for `cancelTimer`.
  @discardableResult
  public func scheduleTimer(afterNanoseconds delay: UInt64, _ body: @escaping () -> Void) -> UInt64 {
    let id = nextTimerID
    nextTimerID += 1
    timerBodies[id] = body
    heapPush(Timer(deadline: MonotonicClock.now() &+ delay, id: id))
    return id
  }

  public func cancelTimer(_ id: UInt64) {
    timerBodies.removeValue(forKey: id)
  }

  private func heapPush(_ timer: Timer) {
    timerHeap.append(timer)
    var child = timerHeap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      if timerHeap[parent].deadline <= timerHeap[child].deadline { break }
      timerHeap.swapAt(parent, child)
      child = parent
    }
  }

  private func heapPop() -> Timer {
    let top = timerHeap[0]
    let last = timerHeap.removeLast()
    if !timerHeap.isEmpty {
      timerHeap[0] = last
      var parent = 0
      while true {
        let left = 2 * parent + 1
        let right = left + 1
        var smallest = parent
        if left < timerHeap.count && timerHeap[left].deadline < timerHeap[smallest].deadline {
          smallest = left
        }
        if right < timerHeap.count && timerHeap[right].deadline < timerHeap[smallest].deadline {
          smallest = right
        }
        if smallest == parent { break }
        timerHeap.swapAt(parent, smallest)
        parent = smallest
      }
    }
    return top
  }

  private func runDueTimers() {
    let now = MonotonicClock.now()
    while let first = timerHeap.first, first.deadline <= now {
      let timer = heapPop()
      if let body = timerBodies.removeValue(forKey: timer.id) {
        body()
      } else {
        cancelledInHeap = max(0, cancelledInHeap - 1)
      }
    }
  }

  private func epollTimeoutMilliseconds() -> Int32 {
    while let first = timerHeap.first, timerBodies[first.id] == nil {
      _ = heapPop()
      cancelledInHeap = max(0, cancelledInHeap - 1)
    }
    guard let first = timerHeap.first else { return -1 }
    let now = MonotonicClock.now()
    if first.deadline <= now { return 0 }
    let millis = (first.deadline - now + 999_999) / 1_000_000
    return Int32(min(millis, 60_000))
  }

  // MARK: The loop

  /// Stops the loop thread after the work already queued. Registered sockets are not closed.
  public func shutdown() async {
    await withCheckedContinuation { continuation in
      let alreadyStopped = stopped.withLock { waiters -> Bool in
        guard waiters != nil else { return true }
        waiters!.append(continuation)
        return false
      }
      if alreadyStopped { continuation.resume(); return }
      stopRequested.store(true, ordering: .releasing)
      execute {}
    }
  }

  private func run() {
    threadID.store(hayon_thread_self(), ordering: .releasing)
    let capacity = 256
    let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
    defer { events.deallocate() }
    while !stopRequested.load(ordering: .acquiring) {
      let hasWork = queue.withLock { !$0.work.isEmpty }
      let timeout = hasWork ? 0 : epollTimeoutMilliseconds()
      let count = epoll_wait(epollFD, events, Int32(capacity), timeout)
      if count > 0 {
        for index in 0..<Int(count) {
          let event = events[index]
          let fd = event.data.fd
          if fd == wakeFD {
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
            continue
          }
          registrations[fd]?.handleEvents(event.events)
        }
      }
      runDueTimers()
      drainQueue()
      runIdleWork()
    }
    drainQueue()
    let waiters = stopped.withLock { waiters -> [CheckedContinuation<Void, Never>] in
      let current = waiters ?? []
      waiters = nil
      return current
    }
    for waiter in waiters { waiter.resume() }
  }

  private func drainQueue() {
    // Bounded passes so timers and I/O still get a turn when work keeps producing work. The batch
    // buffer is swapped with the queue's under the lock, so both keep their capacity.
    for _ in 0..<4 {
      queue.withLock { state in
        swap(&state.work, &drainBatch)
        state.wakePending = false
      }
      if drainBatch.isEmpty { return }
      for work in drainBatch {
        switch work {
        case .job(let job): job.runSynchronously(on: asUnownedSerialExecutor())
        case .taskJob(let job): job.runSynchronously(on: taskExecutor.asUnownedTaskExecutor())
        case .closure(let body): body()
        }
      }
      drainBatch.removeAll(keepingCapacity: true)
    }
  }
}

/// The loop seen as a `TaskExecutor`: tasks started with this preference run their
/// nonisolated code on the loop thread.
public final class LoopTaskExecutor: TaskExecutor, @unchecked Sendable {
  unowned let loop: EventLoop
  init(loop: EventLoop) { self.loop = loop }

  public func enqueue(_ job: consuming ExecutorJob) {
    loop.pushTaskJob(UnownedJob(job))
  }
}

/// A fixed group of event loops, one per core by default.
public final class EventLoopGroup: Sendable {
  public let loops: [EventLoop]
  private let counter = Atomic<Int>(0)

  public init(loopCount: Int = ProcessInfo.processInfo.activeProcessorCount, name: String = "hayon-loop") {
    hayon_ignore_sigpipe()
    loops = (0..<max(1, loopCount)).map { EventLoop(name: "\(name)-\($0)") }
  }

  /// Round-robin choice of a loop for a new connection.
  public func next() -> EventLoop {
    let index = counter.wrappingAdd(1, ordering: .relaxed).oldValue
    return loops[index % loops.count]
  }

  public func shutdown() async {
    for loop in loops { await loop.shutdown() }
  }

  /// One shared group for processes that do not build their own.
  public static let shared = EventLoopGroup()
}

package enum MonotonicClock {
  /// Nanoseconds on CLOCK_MONOTONIC.
  package static func now() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
  }
}
