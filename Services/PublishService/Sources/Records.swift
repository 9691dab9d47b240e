import Foundation
import HayonModel
import HayonPublish

/// A post as stored in `posts`. Its targets are separate documents (`TargetRecord`), so each can
/// be claimed on its own; `status` is derived from them and rewritten with every target change,
/// in the same transaction, so listing by status is an index lookup.
struct PostRecord: Codable, Sendable, Hashable {
  var userId: String
  var text: String
  var overrides: [String: String]
  /// In the order the user chose them.
  var platforms: [Platform]
  var scheduledAt: Date
  var timeZone: String?
  var status: Posts.PostStatus
  var createdAt: Date
  var updatedAt: Date
  var requestId: String?

  /// The text that goes to `platform`.
  func text(for platform: Platform) -> String { overrides[platform.rawValue] ?? text }
}

/// One target as stored in `targets`, id `<postId>.<platform>`.
///
/// Indexed: `wakeAt` is set exactly while the target waits to run (scheduled or retrying) and is
/// what a claim selects on; `leaseUntil` is set exactly while it is publishing and is what the
/// lease sweep selects on; `account` (`<userId>/<platform>`) finds an account's targets to hold
/// or resume.
struct TargetRecord: Codable, Sendable, Hashable {
  var postId: String
  var userId: String
  var platform: Platform
  var account: String
  var state: Posts.TargetState
  /// When the post is due (the post's `scheduledAt`).
  var dueAt: Date
  var wakeAt: Date?
  var leaseUntil: Date?
  /// Names the claim that holds the lease; a publisher writes its result only under it.
  var claimToken: String?
  /// Attempts started, in total.
  var attempts: Int
  /// `attempts` when the current round began (creation or a `RetryPost`): the attempt limit
  /// counts from here.
  var roundStart: Int
  /// Mastodon's `Idempotency-Key`: made once with the target, sent unchanged on every attempt.
  var idempotencyKey: String
  var platformPostId: String?
  var url: String?
  var lastError: String?
  var heldAt: Date?
  var publishedAt: Date?
  var updatedAt: Date

  static func id(postId: String, platform: Platform) -> String { "\(postId).\(platform.rawValue)" }
  static func account(userId: String, platform: Platform) -> String { "\(userId)/\(platform.rawValue)" }

  var contract: Posts.Target {
    Posts.Target(
      platform: platform, state: state, attempts: attempts, platformPostId: platformPostId, url: url, lastError: lastError,
      nextAttemptAt: state == .retrying ? wakeAt.map(Timestamp.init) : nil, publishedAt: publishedAt.map(Timestamp.init),
      updatedAt: Timestamp(updatedAt))
  }
}

/// How long to wait before the next attempt after a transient failure: exponential from
/// `baseDelay`, capped at `maximumDelay`, with "equal jitter" (half fixed, half random) so a
/// burst of failures does not come back as a burst. At most `maximumAttempts` per round.
public struct RetryPolicy: Sendable, Hashable {
  public var maximumAttempts: Int
  public var baseDelay: TimeInterval
  public var maximumDelay: TimeInterval

  public init(maximumAttempts: Int = 5, baseDelay: TimeInterval = 2, maximumDelay: TimeInterval = 300) {
    self.maximumAttempts = maximumAttempts
    self.baseDelay = baseDelay
    self.maximumDelay = maximumDelay
  }

  /// The wait after the `attempt`-th attempt of a round failed (1-based); `random` in 0..<1.
  public func delay(afterAttempt attempt: Int, random: Double) -> TimeInterval {
    let exponent = Double(max(0, min(attempt - 1, 30)))
    let cap = min(maximumDelay, baseDelay * pow(2, exponent))
    return cap / 2 + cap / 2 * min(max(random, 0), 1)
  }
}

/// What one attempt came to, as the publisher classifies it.
enum AttemptOutcome: Sendable, Hashable {
  /// The platform accepted: its id and the post's URL.
  case published(platformPostId: String, url: String?)
  /// Nothing was posted and trying again later may work; `notBefore` is a reset the platform
  /// announced (429).
  case transient(String, notBefore: Date?)
  /// The platform refused the post itself: trying again will not help.
  case rejected(String)
  /// The request may have reached the platform without an answer.
  case unknown(String)
  /// The account needs reconnection.
  case held(String)
}

/// The target state machine: every transition is a pure function of the record, the time and
/// (for backoff) a random number, and says whether it applies. The store and the scheduler only
/// persist what these return.
enum TargetMachine {
  enum Refusal: Error, Equatable {
    case wrongState(Posts.TargetState)
  }

  /// A new target, waiting for `dueAt` (or held, when the account already needs reconnection).
  static func new(
    postId: String, userId: String, platform: Platform, dueAt: Date, held: String?, idempotencyKey: String, now: Date
  ) -> TargetRecord {
    TargetRecord(
      postId: postId, userId: userId, platform: platform, account: TargetRecord.account(userId: userId, platform: platform),
      state: held == nil ? .scheduled : .held, dueAt: dueAt, wakeAt: held == nil ? dueAt : nil, leaseUntil: nil, claimToken: nil,
      attempts: 0, roundStart: 0, idempotencyKey: idempotencyKey, platformPostId: nil, url: nil, lastError: held,
      heldAt: held == nil ? nil : now, publishedAt: nil, updatedAt: now)
  }

  /// scheduled | retrying, due → publishing under a lease.
  static func claim(_ target: TargetRecord, now: Date, leaseUntil: Date, token: String) throws(Refusal) -> TargetRecord {
    guard target.state == .scheduled || target.state == .retrying else { throw .wrongState(target.state) }
    var next = target
    next.state = .publishing
    next.wakeAt = nil
    next.leaseUntil = leaseUntil
    next.claimToken = token
    next.attempts += 1
    next.updatedAt = now
    return next
  }

  /// The result of the attempt made under `token`. A result for a claim that is no longer current
  /// is ignored, except a success: what the platform accepted is recorded whatever happened
  /// meanwhile (the lease sweep may have called it unknown).
  static func finish(
    _ target: TargetRecord, token: String, outcome: AttemptOutcome, policy: RetryPolicy, random: Double, now: Date
  ) -> TargetRecord? {
    let current = target.state == .publishing && target.claimToken == token
    var next = target
    next.leaseUntil = nil
    next.claimToken = nil
    next.updatedAt = now
    switch outcome {
    case .published(let id, let url):
      guard target.state != .published else { return nil }
      next.state = .published
      next.platformPostId = id
      next.url = url
      next.lastError = nil
      next.publishedAt = now
      next.wakeAt = nil
      return next
    case _ where !current:
      return nil
    case .transient(let reason, let notBefore):
      let used = target.attempts - target.roundStart
      if used >= policy.maximumAttempts {
        next.state = .failed
        next.lastError = "gave up after \(used) attempts: \(reason)"
        return next
      }
      var wake = now.addingTimeInterval(policy.delay(afterAttempt: used, random: random))
      if let notBefore, notBefore > wake { wake = notBefore }
      next.state = .retrying
      next.wakeAt = wake
      next.lastError = reason
    case .rejected(let reason):
      next.state = .failed
      next.lastError = reason
    case .unknown(let reason):
      next.state = .unknown
      next.lastError = reason
    case .held(let reason):
      next.state = .held
      next.lastError = reason
      next.heldAt = now
      // The attempt never reached the platform: it does not count against the round.
      next.roundStart = min(next.roundStart + 1, next.attempts)
    }
    return next
  }

  /// publishing whose lease ran out (its publisher died mid-call) → unknown, never re-posted.
  static func expireLease(_ target: TargetRecord, now: Date) -> TargetRecord? {
    guard target.state == .publishing, let until = target.leaseUntil, until <= now else { return nil }
    var next = target
    next.state = .unknown
    next.leaseUntil = nil
    next.claimToken = nil
    next.lastError = "the publisher stopped before the platform answered; check the account before retrying"
    next.updatedAt = now
    return next
  }

  /// Another target of the account found it needs reconnection: waiting targets are held too.
  static func hold(_ target: TargetRecord, reason: String, now: Date) -> TargetRecord? {
    guard target.state == .scheduled || target.state == .retrying else { return nil }
    var next = target
    next.state = .held
    next.wakeAt = nil
    next.lastError = reason
    next.heldAt = now
    next.updatedAt = now
    return next
  }

  /// The account is connected again: held → scheduled, due at its time (or now, if that passed).
  static func resume(_ target: TargetRecord, now: Date) -> TargetRecord? {
    guard target.state == .held else { return nil }
    var next = target
    next.state = .scheduled
    next.wakeAt = max(target.dueAt, now)
    next.lastError = nil
    next.heldAt = nil
    next.updatedAt = now
    return next
  }

  /// Cancel: anything not published and not publishing right now.
  static func cancel(_ target: TargetRecord, now: Date) throws(Refusal) -> TargetRecord? {
    switch target.state {
    case .cancelled, .published: return nil
    case .publishing: throw .wrongState(.publishing)
    case .scheduled, .retrying, .held, .failed, .unknown:
      var next = target
      next.state = .cancelled
      next.wakeAt = nil
      next.updatedAt = now
      return next
    }
  }

  /// Retry: failed or unknown only; a new round of attempts, starting now.
  static func retry(_ target: TargetRecord, now: Date) throws(Refusal) -> TargetRecord {
    guard target.state == .failed || target.state == .unknown else { throw .wrongState(target.state) }
    var next = target
    next.state = .scheduled
    next.wakeAt = now
    next.roundStart = target.attempts
    next.updatedAt = now
    return next
  }

  /// Reschedule (edit): a waiting or held target moves to the new time.
  static func reschedule(_ target: TargetRecord, dueAt: Date, now: Date) -> TargetRecord {
    var next = target
    next.dueAt = dueAt
    if next.state == .scheduled { next.wakeAt = dueAt }
    next.updatedAt = now
    return next
  }

  /// Edits are allowed while no target has started: every target scheduled, held or cancelled.
  static func isEditable(_ target: TargetRecord) -> Bool {
    target.state == .scheduled || target.state == .held || target.state == .cancelled
  }
}
