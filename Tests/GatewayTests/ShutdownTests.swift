import Foundation
import Gateway
import HayonTestSupport
import Synchronization
import Testing

@Suite("graceful shutdown", .serialized)
struct ShutdownTests {
  @Test("requests in flight finish during shutdown; new connections are refused", arguments: [WireProtocol.http1, .h2PriorKnowledge])
  func inFlight(wire: WireProtocol) async throws {
    try await withStack(server: { $0.shutdownGracePeriod = .seconds(5) }) { stack in
      let user = try await stack.signUp()
      stack.posts.listDelay.withLock { $0 = .milliseconds(800) }
      async let slow = curl("GET", stack.url("/api/posts"), protocol: wire, headers: bearer(user.access))
      // Shutdown begins once the request is in the handler (it stays there 800 ms).
      #expect(try await eventually { stack.recorder.all.contains { $0.method == "Posts.ListPosts" } })
      let started = ContinuousClock.now
      await stack.server.shutdown()
      let response = try await slow
      #expect(response.status == 200, "\(response.text)")
      #expect(ContinuousClock.now - started < .seconds(4))
      let refused = try? await curl("GET", stack.url("/healthz"), protocol: wire, extra: ["--max-time", "2"])
      #expect(refused == nil)
    }
  }
}
