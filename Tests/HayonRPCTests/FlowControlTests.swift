import HayonHTTP2
import HayonTestSupport
import Synchronization
import Testing
@testable import HayonRPC

@Suite("Flow control")
struct FlowControlTests {
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
      #expect(try await eventually { probe.written.load(ordering: .relaxed) > 0 })
      let stalledAt = try #require(
        try await settledValue { probe.written.load(ordering: .relaxed) }, "the server never stopped writing")
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
