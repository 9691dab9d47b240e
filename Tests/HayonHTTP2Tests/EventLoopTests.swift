import Synchronization
import Testing
@testable import HayonHTTP2

@Suite("Event loop")
struct EventLoopTests {
  private let loop = EventLoopGroup.shared.loops[0]

  @Test func executeRunsOnTheLoopThread() async {
    let onLoop = await loop.run { self.loop.inLoop }
    #expect(onLoop)
    #expect(!loop.inLoop)
  }

  @Test func timersFireInDeadlineOrderAndCancelledOnesNever() async {
    let fired = Mutex<[Int]>([])
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
      loop.execute { [loop] in
        // Scheduled out of order; 3 is cancelled.
        for (index, delayMillis) in [(2, 20), (0, 1), (3, 10), (1, 5)] {
          let id = loop.scheduleTimer(afterNanoseconds: UInt64(delayMillis) * 1_000_000) {
            fired.withLock { $0.append(index) }
          }
          if index == 3 { loop.cancelTimer(id) }
        }
        loop.scheduleTimer(afterNanoseconds: 40_000_000) { done.resume() }
      }
    }
    #expect(fired.withLock { $0 } == [0, 1, 2])
  }

  @Test func manyCancelledTimersAreCompactedAndLiveOnesStillFire() async {
    let fired = Atomic<Int>(0)
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
      loop.execute { [loop] in
        // 5,000 long timers cancelled right away (what per-call deadlines do), 10 short live ones.
        for _ in 0..<5_000 {
          let id = loop.scheduleTimer(afterNanoseconds: 3_600_000_000_000) {
            fired.add(1000, ordering: .relaxed)
          }
          loop.cancelTimer(id)
        }
        for _ in 0..<10 {
          loop.scheduleTimer(afterNanoseconds: 2_000_000) { fired.add(1, ordering: .relaxed) }
        }
        loop.scheduleTimer(afterNanoseconds: 20_000_000) { done.resume() }
      }
    }
    #expect(fired.load(ordering: .relaxed) == 10)
  }

  @Test func hugeDurationsSaturateInsteadOfWrapping() {
    #expect(Duration.seconds(99_999_999 * 3600).saturatingNanoseconds == 1 << 63)
    #expect(Duration.seconds(-5).saturatingNanoseconds == 0)
    #expect(Duration.milliseconds(1500).saturatingNanoseconds == 1_500_000_000)
  }
}
