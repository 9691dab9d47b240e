import HayonHTTP2
import Synchronization
import Testing
@testable import HayonRPC

@Suite("Flow control")
struct FlowControlTests {
  /// Polls `value` until it is non-zero and then stops changing (5 polls in a row), within
  /// `limit`.
  private func settled(_ value: () -> Int, limit: Duration = .seconds(10)) async throws -> Int {
    let deadline = ContinuousClock.now + limit
    while value() == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    var last = value()
    var steady = 0
    while steady < 5 && ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(50))
      let current = value()
      steady = current == last ? steady + 1 : 0
      last = current
    }
    return last
  }

  @Test func slowClientHoldsTheServerToTheFlowControlWindow() async throws {
    let probe = ProbeService()
    try await withTestServer(services: [probe]) { _, address in
      let client = try makeClient(address)
      let total = 20_000
      let (release, releaser) = AsyncStream<Void>.makeStream()
      let received = Atomic<Int>(0)
      let call = Task {
        try await client.serverStream(ProbeService.Flood.self, .init(failures: total)) { _ in
          // The first message blocks until the test lets go: a consumer that stopped reading.
          if received.add(1, ordering: .relaxed).newValue == 1 {
            for await _ in release { break }
          }
        }
      }
      let stalledAt = try await settled { probe.written.load(ordering: .relaxed) }
      // ~1 KiB messages: a 1 MiB stream window plus the server's 256 KiB per-stream buffer is
      // about 1,300 messages; nowhere near the 20,000 an unbounded client would take.
      #expect(stalledAt > 0)
      #expect(stalledAt < 3_000, "server wrote \(stalledAt) messages to a client that stopped reading")
      releaser.yield()
      releaser.finish()
      _ = try await call.value
      #expect(received.load(ordering: .relaxed) == total)
      #expect(probe.written.load(ordering: .relaxed) == total)
      await client.close()
    }
  }
}
