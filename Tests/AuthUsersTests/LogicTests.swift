import Dispatch
import Foundation
import HayonCrypto
import Testing

@testable import AuthUsers

@Suite("Users logic without sockets")
struct LogicTests {
  static let start = Date(timeIntervalSince1970: 1_800_000_000)
  static let policy = LoginThrottlePolicy(maximumFailures: 3, window: .seconds(600), lockout: .seconds(300))

  @Test func throttleCountsWithinTheWindowThenLocks() {
    var record: LoginThrottleRecord?
    for (offset, expectedFailures) in [(0.0, 1), (100.0, 2)] {
      guard case .attempt(let next) = LoginThrottle.decide(record, at: Self.start + offset, policy: Self.policy) else {
        Issue.record("expected an attempt")
        return
      }
      #expect(next.failures == expectedFailures)
      #expect(next.lockedUntil == nil)
      #expect(next.expiresAt == Self.start + 600)
      record = next
    }
    // The third attempt is allowed but arms the lock, should it fail.
    guard case .attempt(let armed) = LoginThrottle.decide(record, at: Self.start + 200, policy: Self.policy) else {
      Issue.record("expected an attempt")
      return
    }
    #expect(armed.lockedUntil == Self.start + 500)
    #expect(armed.expiresAt == Self.start + 600)
    #expect(LoginThrottle.decide(armed, at: Self.start + 499, policy: Self.policy) == .locked(until: Self.start + 500))
    // Once the lock runs out, counting starts again from one.
    guard case .attempt(let fresh) = LoginThrottle.decide(armed, at: Self.start + 500, policy: Self.policy) else {
      Issue.record("expected an attempt")
      return
    }
    #expect(fresh == LoginThrottleRecord(failures: 1, windowStartedAt: Self.start + 500, lockedUntil: nil, expiresAt: Self.start + 1100))
  }

  @Test func throttleWindowRestartsAfterItPasses() {
    let old = LoginThrottleRecord(failures: 2, windowStartedAt: Self.start, lockedUntil: nil, expiresAt: Self.start + 600)
    #expect(LoginThrottle.decide(old, at: Self.start + 600, policy: Self.policy)
      == .attempt(record: LoginThrottleRecord(failures: 1, windowStartedAt: Self.start + 600, lockedUntil: nil, expiresAt: Self.start + 1200)))
  }

  @Test(arguments: [
    (59.0, "too many login attempts; try again in 1 minute"),
    (60.0, "too many login attempts; try again in 1 minute"),
    (61.0, "too many login attempts; try again in 2 minutes"),
    (900.0, "too many login attempts; try again in 15 minutes"),
    (0.2, "too many login attempts; try again in 1 minute"),
  ])
  func throttleMessageRoundsUp(remaining: TimeInterval, message: String) {
    #expect(UsersError.throttledMessage(until: Self.start + remaining, now: Self.start) == message)
  }

  @Test func refreshDecisions() {
    let session = SessionRecord(userId: "u", createdAt: Self.start, lastRefreshedAt: Self.start, expiresAt: Self.start + 1000)
    var revoked = session
    revoked.revokedAt = Self.start
    let token = RefreshTokenRecord(sessionId: "s", userId: "u", issuedAt: Self.start, expiresAt: Self.start + 1000)
    var used = token
    used.usedAt = Self.start + 10

    #expect(RefreshDecision.decide(token: token, session: session, now: Self.start + 999) == .rotate)
    #expect(RefreshDecision.decide(token: token, session: session, now: Self.start + 1000) == .expired)
    #expect(RefreshDecision.decide(token: used, session: session, now: Self.start + 20) == .reuseDetected)
    #expect(RefreshDecision.decide(token: used, session: revoked, now: Self.start + 20) == .rejected)
    #expect(RefreshDecision.decide(token: token, session: revoked, now: Self.start + 20) == .rejected)
    #expect(RefreshDecision.decide(token: nil, session: nil, now: Self.start) == .rejected)
    #expect(RefreshDecision.decide(token: token, session: nil, now: Self.start) == .rejected)
  }

  @Test(arguments: [
    ("Alice@Example.COM", "alice@example.com"),
    ("  bob@example.com\t\n", "bob@example.com"),
    ("o'brien+tag@mail.example.co.uk", "o'brien+tag@mail.example.co.uk"),
    ("x@a-b.io", "x@a-b.io"),
  ])
  func emailNormalisation(raw: String, normalized: String) throws {
    #expect(try EmailAddress(raw).normalized == normalized)
  }

  @Test func emailCacheEvictsTheOldestBeyondCapacity() {
    let cache = EmailCache(capacity: 3)
    for index in 0..<10 { cache.remember("user\(index)@example.com", for: "u\(index)") }
    #expect(cache.count == 3)
    #expect(cache.email(for: "u9") == "user9@example.com")
    #expect(cache.email(for: "u7") == "user7@example.com")
    #expect(cache.email(for: "u6") == nil)
    cache.remember("user9@example.com", for: "u9")
    #expect(cache.count == 3)
  }

  @Test func hashingPoolRefusesBeyondItsBound() async throws {
    let pool = PasswordHashingPool(width: 1, maximumQueued: 0)
    let started = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    async let first = pool.run { () throws(CryptoError) -> Int in
      started.signal()
      release.wait()
      return 1
    }
    // Wait, off the cooperative pool, until the first job is running.
    await withCheckedContinuation { continuation in
      DispatchQueue.global().async {
        started.wait()
        continuation.resume()
      }
    }
    await #expect(throws: UsersError.hashingBusy) {
      _ = try await pool.run { () throws(CryptoError) in 2 }
    }
    release.signal()
    #expect(try await first.get() == 1)
    #expect(try await pool.run { () throws(CryptoError) in 3 }.get() == 3)
  }
}

extension Date {
  fileprivate static func + (date: Date, seconds: TimeInterval) -> Date { date.addingTimeInterval(seconds) }
}
