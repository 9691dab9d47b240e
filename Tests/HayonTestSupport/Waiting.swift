/// Polls `condition` every 10 ms until it holds or `timeout` passes, and says whether it held: for
/// a test waiting on a state the code under test reaches by itself, instead of sleeping for a
/// guessed time (too short on a loaded machine, wasted on a quiet one).
public func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
  let deadline = ContinuousClock.now + timeout
  while try await !condition() {
    if ContinuousClock.now >= deadline { return false }
    try await Task.sleep(for: .milliseconds(10))
  }
  return true
}

/// Polls `value` every 50 ms until it has not changed for 5 polls in a row, within `limit`: the
/// settled value, or nil if it was still moving. For a count that grows until something stops it
/// (flow control, back-pressure), once it has started growing.
public func settledValue(within limit: Duration = .seconds(10), _ value: () -> Int) async throws -> Int? {
  let deadline = ContinuousClock.now + limit
  var last = value()
  var unchangedPolls = 0
  while unchangedPolls < 5 {
    if ContinuousClock.now >= deadline { return nil }
    try await Task.sleep(for: .milliseconds(50))
    let current = value()
    unchangedPolls = current == last ? unchangedPolls + 1 : 0
    last = current
  }
  return last
}
