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
    /// Attempts running in this process, by claim token (the sweep leaves them alone).
    var tasks: [String: Task<Void, Never>] = [:]
    var nextHeldPoll = Date.distantPast
    var nextSweep = Date.distantPast
    /// The run loop waiting between ticks, and a wake-up that arrived while it was not.
    var sleeper: CheckedContinuation<Void, Never>?
    var woken = false
    /// The last claim filled a platform's capacity: more may be due, so a finished attempt
    /// wakes the loop instead of leaving its slot idle until the next tick.
    var saturated = false
  }

  let store: PublishStore
  let accounts: Accounts.Client
  let publisher: Publisher
  let configuration: PublishConfiguration
  let clock: any WallClock
  let logger: Logger
  let claimPrefix = PostsService.hex(SecureRandom.bytes(6))
  private let state = Mutex(State())
  private let recorder = GroupCommit<RecordedOutcome>()
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
      await pause()
    }
    await idle()
  }

  /// Waits for the tick interval, or less when a finished attempt freed capacity that due
  /// targets are waiting for.
  private func pause() async {
    let interval = configuration.tickInterval
    let timer = Task { [weak self] in
      // A cancelled timer must not wake: that would leave a wake-up behind and spin the loop.
      guard (try? await Task.sleep(for: interval)) != nil else { return }
      self?.wake()
    }
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let now = state.withLock { state -> Bool in
        if state.woken {
          state.woken = false
          return true
        }
        state.sleeper = continuation
        return false
      }
      if now { continuation.resume() }
    }
    timer.cancel()
  }

  private func wake() {
    let sleeper = state.withLock { state -> CheckedContinuation<Void, Never>? in
      guard let sleeper = state.sleeper else {
        state.woken = true
        return nil
      }
      state.sleeper = nil
      return sleeper
    }
    sleeper?.resume()
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
    let sweepDue = state.withLock { state in
      guard clock.now >= state.nextSweep else { return false }
      state.nextSweep = clock.now.addingTimeInterval(configuration.tickInterval.timeInterval)
      return true
    }
    if sweepDue {
      do {
        report.expired = try await sweep()
      } catch {
        logger.error("lease sweep failed", ["cause": "\(error)"])
      }
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
    let own = state.withLock { Set($0.tasks.keys) }
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
    if claimed.count == capacity { state.withLock { $0.saturated = true } }
    for target in claimed { start(target) }
    return claimed.count
  }

  private func start(_ target: Stored<TargetRecord>) {
    let token = target.value.claimToken ?? ""
    state.withLock { state in
      state.platformInFlight[target.value.platform, default: 0] += 1
      state.accountInFlight[target.value.account, default: 0] += 1
      state.tasks[token] = Task {
        await self.perform(target)
        self.state.withLock { state in
          state.platformInFlight[target.value.platform, default: 1] -= 1
          state.accountInFlight[target.value.account, default: 1] -= 1
          if state.accountInFlight[target.value.account] == 0 { state.accountInFlight[target.value.account] = nil }
          state.tasks[token] = nil
        }
        if self.state.withLock({ state in defer { state.saturated = false }; return state.saturated }) { self.wake() }
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

  /// Saves what the attempt came to, and returns once it is committed. Results arriving while a
  /// write is under way are committed together in the next transaction (group commit): no
  /// waiting window, one transaction per batch instead of one per target under load.
  func record(_ outcome: AttemptOutcome, for id: String, token: String) async {
    await recorder.record(RecordedOutcome(id: id, token: token, outcome: outcome)) { batch in
      await self.write(batch)
    }
  }

  /// Writes a batch of results. A platform post id must not be lost: the write is retried while
  /// the store is busy; a batch that keeps failing is written item by item.
  func write(_ batch: [RecordedOutcome]) async {
    for attempt in 1...20 {
      do {
        try await writeOnce(batch)
        return
      } catch {
        logger.error(
          "could not record attempts; trying again", ["count": "\(batch.count)", "cause": "\(error)", "try": "\(attempt)"])
        if batch.count > 1 {
          for item in batch { await write([item]) }
          return
        }
        try? await Task.sleep(for: .milliseconds(50 * attempt))
      }
    }
  }

  private func writeOnce(_ batch: [RecordedOutcome]) async throws {
    let policy = configuration.retry
    let now = clock.now
    let randoms = batch.map { _ in Double.random(in: 0..<1) }
    let results = try await store.transaction { transaction -> [TargetRecord] in
      var posts: Set<String> = []
      var results: [TargetRecord] = []
      for (index, item) in batch.enumerated() {
        guard var target = try transaction.transaction.get(TargetRecord.self, from: PublishStore.targets, id: item.id),
          let next = TargetMachine.finish(
            target.value, token: item.token, outcome: item.outcome, policy: policy, random: randoms[index], now: now)
        else { continue }
        target.value = next
        try transaction.write(target)
        results.append(next)
        posts.insert(next.postId)
        if case .held(let reason) = item.outcome {
          // The account needs reconnection: its other waiting targets wait for that too.
          let waiting =
            try transaction.query(
              [Field("account") == .string(next.account), Field("state") == .string(Posts.TargetState.scheduled.rawValue)],
              limit: 1000)
            + transaction.query(
              [Field("account") == .string(next.account), Field("state") == .string(Posts.TargetState.retrying.rawValue)],
              limit: 1000)
          for var other in waiting where other.id != item.id {
            guard let held = TargetMachine.hold(other.value, reason: reason, now: now) else { continue }
            other.value = held
            try transaction.write(other)
            posts.insert(held.postId)
          }
        }
      }
      for post in posts { try transaction.refreshStatus(postId: post, now: now) }
      return results
    }
    for result in results {
      logger.info(
        "attempt finished",
        ["postId": result.postId, "platform": result.platform.rawValue, "state": result.state.rawValue,
         "attempts": "\(result.attempts)", "error": result.lastError ?? ""])
    }
  }
}

/// One attempt's result waiting to be written.
struct RecordedOutcome: Sendable {
  let id: String
  let token: String
  let outcome: AttemptOutcome
}

/// Group commit: callers hand in items and wait; one writer at a time takes everything pending
/// and writes it as one batch, then the next batch, until nothing is pending.
actor GroupCommit<Item: Sendable> {
  private var pending: [(Item, CheckedContinuation<Void, Never>)] = []
  private var writing = false
  /// The largest batch written at once.
  let maximumBatch: Int

  init(maximumBatch: Int = 256) { self.maximumBatch = maximumBatch }

  func record(_ item: Item, write: @escaping @Sendable ([Item]) async -> Void) async {
    await withCheckedContinuation { continuation in
      pending.append((item, continuation))
      if !writing {
        writing = true
        Task { await self.drain(write) }
      }
    }
  }

  private func drain(_ write: @Sendable ([Item]) async -> Void) async {
    while !pending.isEmpty {
      let batch = Array(pending.prefix(maximumBatch))
      pending.removeFirst(batch.count)
      await write(batch.map(\.0))
      for (_, continuation) in batch { continuation.resume() }
    }
    writing = false
  }
}
