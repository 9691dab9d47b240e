import Foundation
import HayonModel
import HayonPublish
import Testing

@testable import PublishService

@Suite("Target state machine")
struct StateMachineTests {
  let start = Date(timeIntervalSince1970: 1_800_000_000)
  let policy = RetryPolicy(maximumAttempts: 3, baseDelay: 2, maximumDelay: 60)

  func fresh(held: String? = nil) -> TargetRecord {
    TargetMachine.new(
      postId: "p1", userId: "u1", platform: .bluesky, dueAt: start, held: held, idempotencyKey: "k", now: start)
  }

  @Test("scheduled → publishing → published saves the platform id")
  func happyPath() throws {
    let claimed = try TargetMachine.claim(fresh(), now: start, leaseUntil: start + 60, token: "t1")
    #expect(claimed.state == .publishing && claimed.attempts == 1 && claimed.wakeAt == nil && claimed.leaseUntil == start + 60)
    let done = try #require(
      TargetMachine.finish(claimed, token: "t1", outcome: .published(platformPostId: "at://x", url: "https://u"), policy: policy, random: 0.5, now: start + 1))
    #expect(done.state == .published && done.platformPostId == "at://x" && done.leaseUntil == nil && done.claimToken == nil)
    #expect(throws: TargetMachine.Refusal.wrongState(.published)) { try TargetMachine.claim(done, now: start, leaseUntil: start, token: "t2") }
    #expect(throws: TargetMachine.Refusal.wrongState(.published)) { try TargetMachine.retry(done, now: start) }
  }

  @Test("transient failures retry with growing jittered backoff, a 429 reset wins, then failed after the limit")
  func retries() throws {
    var target = fresh()
    var waits: [TimeInterval] = []
    for attempt in 1...3 {
      let now = start + Double(attempt * 100)
      target = try TargetMachine.claim(target, now: now, leaseUntil: now + 60, token: "t\(attempt)")
      target = try #require(
        TargetMachine.finish(target, token: "t\(attempt)", outcome: .transient("HTTP 503", notBefore: nil), policy: policy, random: 1, now: now))
      if attempt < 3 {
        #expect(target.state == .retrying)
        waits.append(try #require(target.wakeAt).timeIntervalSince(now))
      }
    }
    #expect(waits == [2, 4])
    #expect(target.state == .failed && target.lastError == "gave up after 3 attempts: HTTP 503")

    var limited = try TargetMachine.claim(fresh(), now: start, leaseUntil: start + 60, token: "r")
    limited = try #require(
      TargetMachine.finish(limited, token: "r", outcome: .transient("429", notBefore: start + 300), policy: policy, random: 0, now: start))
    #expect(limited.state == .retrying && limited.wakeAt == start + 300)
    #expect(policy.delay(afterAttempt: 1, random: 0) == 1 && policy.delay(afterAttempt: 10, random: 1) == 60)
  }

  @Test("a lease that ran out makes the target unknown; a late success is still recorded")
  func leaseExpiry() throws {
    let claimed = try TargetMachine.claim(fresh(), now: start, leaseUntil: start + 60, token: "t")
    #expect(TargetMachine.expireLease(claimed, now: start + 59) == nil)
    let unknown = try #require(TargetMachine.expireLease(claimed, now: start + 60))
    #expect(unknown.state == .unknown && unknown.leaseUntil == nil)
    // A stale failure report changes nothing; a stale success is the truth.
    #expect(TargetMachine.finish(unknown, token: "t", outcome: .transient("x", notBefore: nil), policy: policy, random: 0, now: start + 61) == nil)
    let late = try #require(
      TargetMachine.finish(unknown, token: "t", outcome: .published(platformPostId: "1", url: nil), policy: policy, random: 0, now: start + 61))
    #expect(late.state == .published)
  }

  @Test("held targets resume as scheduled; rejected, unknown and held outcomes")
  func heldAndOutcomes() throws {
    let claimed = try TargetMachine.claim(fresh(), now: start, leaseUntil: start + 60, token: "t")
    let held = try #require(
      TargetMachine.finish(claimed, token: "t", outcome: .held("reconnect"), policy: policy, random: 0, now: start + 1))
    #expect(held.state == .held && held.heldAt == start + 1 && held.roundStart == 1)
    let resumed = try #require(TargetMachine.resume(held, now: start + 10))
    #expect(resumed.state == .scheduled && resumed.wakeAt == start + 10)
    #expect(TargetMachine.hold(fresh(), reason: "r", now: start)?.state == .held)
    #expect(fresh(held: "needs reconnection").state == .held)
    let rejected = TargetMachine.finish(claimed, token: "t", outcome: .rejected("422"), policy: policy, random: 0, now: start)
    #expect(rejected?.state == .failed)
    let unknown = TargetMachine.finish(claimed, token: "t", outcome: .unknown("reset"), policy: policy, random: 0, now: start)
    #expect(unknown?.state == .unknown)
    #expect(try TargetMachine.retry(try #require(unknown), now: start).state == .scheduled)
  }

  @Test("cancel refuses a target that is publishing; edits only while nothing started")
  func cancelAndEdit() throws {
    let claimed = try TargetMachine.claim(fresh(), now: start, leaseUntil: start + 60, token: "t")
    #expect(throws: TargetMachine.Refusal.wrongState(.publishing)) { try TargetMachine.cancel(claimed, now: start) }
    #expect(try TargetMachine.cancel(fresh(), now: start)?.state == .cancelled)
    #expect(TargetMachine.isEditable(fresh()) && !TargetMachine.isEditable(claimed))
    let moved = TargetMachine.reschedule(fresh(), dueAt: start + 500, now: start)
    #expect(moved.wakeAt == start + 500 && moved.dueAt == start + 500)
  }

  @Test("overall status from the targets", arguments: [
    ([Posts.TargetState.scheduled, .scheduled], Posts.PostStatus.scheduled),
    ([.scheduled, .held], .scheduled),
    ([.publishing, .scheduled], .publishing),
    ([.published, .retrying], .publishing),
    ([.published, .scheduled], .publishing),
    ([.published, .published], .published),
    ([.published, .cancelled], .published),
    ([.published, .failed], .partiallyPublished),
    ([.unknown, .published], .partiallyPublished),
    ([.failed, .unknown], .failed),
    ([.cancelled, .cancelled], .cancelled),
  ])
  func derivedStatus(states: [Posts.TargetState], expected: Posts.PostStatus) {
    #expect(Posts.PostStatus.derive(states) == expected)
  }
}
