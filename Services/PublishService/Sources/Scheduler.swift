import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonModel
import HayonPlatforms
import HayonPublish
import HayonRuntime
import HayonStore
import Synchronization

/// Publishes due targets. Each `tick`:
/// 1. **sweeps** `publishing` targets whose lease ran out (their publisher died mid-call) to
///    `unknown` — never re-posted;
/// 2. every `heldPollInterval`, asks account-service about held targets' accounts and
///    **resumes** those connected again;
/// 3. **claims** due targets atomically under a lease — per platform only as many as may be in
///    flight, per account at most `maximumInFlightPerAccount` — and publishes each in its own task.
///    One target's failure or crash never stops the others.
///
/// `run()` ticks every `tickInterval` until cancelled; tests call `tick()` and `idle()` directly.
public final class Scheduler: Sendable {
  struct State {
    var platformInFlight: [Platform: Int] = [:]
    var accountInFlight: [String: Int] = [:]
    /// Claim tokens of attempts running in this process (the sweep leaves them alone).
    var tokens: Set<String> = []
    var tasks: [String: Task<Void, Never>] = [:]
    var nextHeldPoll = Date.distantPast
  }

  let store: PublishStore
  let accounts: Accounts.Client
  let publisher: Publisher
  let configuration: PublishConfiguration
  let clock: any WallClock
  let logger: Logger
  let claimPrefix = PostsService.hex(SecureRandom.bytes(6))
  private let state = Mutex(State())
  private let counter = Atomic<Int>(0)
  private let tickCount = Atomic<Int>(0)

  /// Ticks completed so far (tests wait on it to bound "nothing happened").
  public var ticks: Int { tickCount.load(ordering: .relaxed) }

  public init(
    store: PublishStore, accounts: Accounts.Client, connections: Connections.Client, http: any PlatformHTTPClient,
    configuration: PublishConfiguration, clock: any WallClock = SystemWallClock(),
    logger: Logger = Logger(label: "publish-scheduler")
  ) {
    self.store = store
    self.accounts = accounts
    self.configuration = configuration
    self.clock = clock
    self.logger = logger
    publisher = Publisher(
      connections: connections, accounts: accounts, http: http, configuration: configuration, clock: clock, logger: logger)
  }

  /// Ticks until the task is cancelled, then waits for the attempts in flight.
  public func run() async {
    while !Task.isCancelled {
      await tick()
      try? await Task.sleep(for: configuration.tickInterval)
    }
    await idle()
  }

  /// What one tick did.
  public struct TickReport: Sendable, Hashable {
    public var expired = 0
    public var resumed = 0
    public var claimed = 0
  }

  @discardableResult
  public func tick() async -> TickReport {
    var report = TickReport()
    do {
      report.expired = try await sweep()
    } catch {
      logger.error("lease sweep failed", ["cause": "\(error)"])
    }
    let pollHeld = state.withLock { state in
      guard clock.now >= state.nextHeldPoll else { return false }
      state.nextHeldPoll = clock.now.addingTimeInterval(configuration.heldPollInterval)
      return true
    }
    if pollHeld {
      do {
        report.resumed = try await resumeHeld()
      } catch {
        logger.error("resuming held targets failed", ["cause": "\(error)"])
      }
    }
    for platform in PostInput.publishable.sorted(by: { $0.rawValue < $1.rawValue }) {
      do {
        report.claimed += try await claim(platform)
      } catch {
        logger.error("claiming due targets failed", ["platform": platform.rawValue, "cause": "\(error)"])
      }
    }
    tickCount.add(1, ordering: .relaxed)
    return report
  }

  /// Waits until no attempt is in flight.
  public func idle() async {
    while true {
      let tasks = state.withLock { Array($0.tasks.values) }
      if tasks.isEmpty { return }
      for task in tasks { await task.value }
    }
  }

  public var inFlight: Int { state.withLock { $0.tasks.count } }

  // MARK: Sweep

  func sweep() async throws -> Int {
    let now = clock.now
    let own = state.withLock { $0.tokens }
    return try await store.transaction { transaction in
      let expired = try transaction.query(
        [Field("state") == .string(Posts.TargetState.publishing.rawValue), Field("leaseUntil") <= .date(now)], limit: 500)
      var posts: Set<String> = []
      for var target in expired where !own.contains(target.value.claimToken ?? "") {
        guard let next = TargetMachine.expireLease(target.value, now: now) else { continue }
        target.value = next
        try transaction.write(target)
        posts.insert(target.value.postId)
      }
      for post in posts { try transaction.refreshStatus(postId: post, now: now) }
      return posts.count
    }
  }

  // MARK: Held

  func resumeHeld() async throws -> Int {
    let held = try await store.store.query(
      TargetRecord.self, from: PublishStore.targets, where: [Field("state") == .string(Posts.TargetState.held.rawValue)],
      limit: 1000
    ).items
    guard !held.isEmpty else { return 0 }
    var byUser: [String: [Stored<TargetRecord>]] = [:]
    for target in held { byUser[target.value.userId, default: []].append(target) }
    var resumable: [String] = []
    for (userId, targets) in byUser {
      guard let account = try? await accounts.getAccount(Accounts.GetAccountRequest(userId: userId)) else { continue }
      for target in targets {
        let linked = account[target.value.platform]
        guard linked.connected, !linked.needsReconnection else { continue }
        // Only a change after the hold (a reconnection, a recovered health) resumes it; an
        // account-service that never heard of the failure must not cause a hold/resume loop.
        let changedAt = [linked.connectedAt, linked.health?.updatedAt].compactMap { $0?.date }.max() ?? .distantPast
        guard changedAt > (target.value.heldAt ?? .distantPast) else { continue }
        resumable.append(target.id)
      }
    }
    guard !resumable.isEmpty else { return 0 }
    let now = clock.now
    let ids = resumable
    let resumed = try await store.transaction { transaction in
      var count = 0
      var posts: Set<String> = []
      for id in ids {
        guard var target = try transaction.transaction.get(TargetRecord.self, from: PublishStore.targets, id: id),
          let next = TargetMachine.resume(target.value, now: now)
        else { continue }
        target.value = next
        try transaction.write(target)
        posts.insert(target.value.postId)
        count += 1
      }
      for post in posts { try transaction.refreshStatus(postId: post, now: now) }
      return count
    }
    if resumed > 0 { logger.info("held targets resumed", ["count": "\(resumed)"]) }
    return resumed
  }

  // MARK: Claim and publish

  func claim(_ platform: Platform) async throws -> Int {
    let (capacity, accountCounts) = state.withLock { state in
      (configuration.maximumInFlightPerPlatform - state.platformInFlight[platform, default: 0], state.accountInFlight)
    }
    guard capacity > 0 else { return 0 }
    let now = clock.now
    let leaseUntil = now.addingTimeInterval(configuration.leaseDuration)
    let first = counter.add(capacity, ordering: .relaxed).oldValue
    let prefix = claimPrefix
    let perAccount = configuration.maximumInFlightPerAccount
    let claimed = try await store.transaction { transaction in
      let candidates = try transaction.query(
        [Field("platform") == .string(platform.rawValue), Field("wakeAt") <= .date(now)], orderBy: [.ascending("wakeAt")],
        limit: min(Query.maximumLimit, capacity * 4))
      var counts = accountCounts
      var claimed: [Stored<TargetRecord>] = []
      var posts: Set<String> = []
      for target in candidates {
        guard claimed.count < capacity else { break }
        guard counts[target.value.account, default: 0] < perAccount else { continue }
        let token = "\(prefix)-\(first + claimed.count)"
        guard let next = try? TargetMachine.claim(target.value, now: now, leaseUntil: leaseUntil, token: token) else { continue }
        claimed.append(try transaction.transaction.update(next, in: PublishStore.targets, id: target.id, expectedVersion: target.version))
        counts[target.value.account, default: 0] += 1
        posts.insert(target.value.postId)
      }
      for post in posts { try transaction.refreshStatus(postId: post, now: now) }
      return claimed
    }
    for target in claimed { start(target) }
    return claimed.count
  }

  private func start(_ target: Stored<TargetRecord>) {
    let token = target.value.claimToken ?? ""
    state.withLock { state in
      state.platformInFlight[target.value.platform, default: 0] += 1
      state.accountInFlight[target.value.account, default: 0] += 1
      state.tokens.insert(token)
      state.tasks[token] = Task {
        await self.perform(target)
        self.state.withLock { state in
          state.platformInFlight[target.value.platform, default: 1] -= 1
          state.accountInFlight[target.value.account, default: 1] -= 1
          if state.accountInFlight[target.value.account] == 0 { state.accountInFlight[target.value.account] = nil }
          state.tokens.remove(token)
          state.tasks[token] = nil
        }
      }
    }
  }

  /// One attempt: load the current post (what goes out is what it says now), publish, record.
  func perform(_ target: Stored<TargetRecord>) async {
    let claimed = target.value
    let outcome: AttemptOutcome
    if let post = try? await store.post(id: claimed.postId) {
      outcome = await publisher.attempt(claimed, text: post.value.text(for: claimed.platform), leaseUntil: claimed.leaseUntil ?? clock.now)
    } else {
      outcome = .transient("the post could not be read", notBefore: nil)
    }
    await record(outcome, for: target.id, token: claimed.claimToken ?? "")
  }

  /// Saves what the attempt came to. A platform post id must not be lost: the write is retried
  /// while the store is busy.
  func record(_ outcome: AttemptOutcome, for id: String, token: String) async {
    let policy = configuration.retry
    for attempt in 1...20 {
      let now = clock.now
      let random = Double.random(in: 0..<1)
      do {
        let result = try await store.transaction { transaction -> TargetRecord? in
          guard var target = try transaction.transaction.get(TargetRecord.self, from: PublishStore.targets, id: id),
            let next = TargetMachine.finish(target.value, token: token, outcome: outcome, policy: policy, random: random, now: now)
          else { return nil }
          target.value = next
          try transaction.write(target)
          var posts: Set<String> = [next.postId]
          if case .held(let reason) = outcome {
            // The account needs reconnection: its other waiting targets wait for that too.
            let waiting = try transaction.query([Field("account") == .string(next.account)], limit: 1000)
            for var other in waiting where other.id != id {
              guard let held = TargetMachine.hold(other.value, reason: reason, now: now) else { continue }
              other.value = held
              try transaction.write(other)
              posts.insert(held.postId)
            }
          }
          for post in posts { try transaction.refreshStatus(postId: post, now: now) }
          return next
        }
        if let result {
          logger.info(
            "attempt finished",
            ["postId": result.postId, "platform": result.platform.rawValue, "state": result.state.rawValue,
             "attempts": "\(result.attempts)", "error": result.lastError ?? ""])
        }
        return
      } catch {
        logger.error("could not record an attempt; trying again", ["target": id, "cause": "\(error)", "try": "\(attempt)"])
        try? await Task.sleep(for: .milliseconds(50 * attempt))
      }
    }
  }

  static func hex(_ bytes: [UInt8]) -> String { PostsService.hex(bytes) }
}
