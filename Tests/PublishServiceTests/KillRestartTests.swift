import Foundation
import HayonHTTP2
import HayonModel
import HayonPublish
import HayonRPC
import PlatformSandbox
import HayonTestSupport
import Testing

@Suite("publish-service executable", .serialized)
struct KillRestartTests {
  /// The `publish-service` executable as a child; SIGKILLed while it fans out, then started
  /// again on the same data directory. Counting the sandbox's records: nothing is posted twice
  /// and nothing is lost (every target ends published, or unknown when it was mid-call).
  @Test("killed mid-fan-out and restarted: nothing lost, nothing posted twice")
  func killAndRestart() async throws {
    let backends = try await Backends()
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hayon-publish-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let environment = [
      "PUBLISH_SERVICE_LISTEN": "127.0.0.1:0", "HAYON_RPC_TOKEN": testToken, "HAYON_DATA_DIR": directory.path,
      "AUTH_SERVICE_ADDRESS": backends.authAddress.description, "ACCOUNT_SERVICE_ADDRESS": backends.accountAddress.description,
      "HAYON_PLATFORM_HOST_ALLOWLIST": backends.sandboxHost, "PUBLISH_TICK_MS": "20", "PUBLISH_LEASE_SECONDS": "6",
      "PUBLISH_RETRY_BASE_MS": "200", "PUBLISH_MAX_IN_FLIGHT_PER_ACCOUNT": "2", "PUBLISH_HELD_POLL_SECONDS": "1",
      "HAYON_LOG_LEVEL": "warning",
    ]
    do {
      let did = try await backends.connectBluesky(userId: "alice", handle: "alice.test")
      let mastodonId = try await backends.connectMastodon(userId: "alice", username: "alice")
      let sandbox = backends.sandbox
      func recordCount() -> Int { sandbox.bluesky.posts(did: did).count + sandbox.mastodon.statuses(accountId: mastodonId).count }

      let count = 40
      var ids: [String] = []
      var countAtKill = 0
      let first = try ChildProcess(product: "publish-service", environment: environment)
      do {
        let address = try await Self.address(of: first)
        let rpc = try makeRPCClient(address)
        let posts = Posts.Client(rpc)
        let due = isoIn(1.5)
        for number in 0..<count {
          let post = try await posts.createPost(
            .init(userId: "alice", text: "kill test #\(number)", platforms: [.bluesky, .mastodon], scheduledAt: due))
          ids.append(post.id)
        }
        await rpc.close()
        // Kill as soon as the fan-out has begun.
        let deadline = ContinuousClock.now + .seconds(30)
        while recordCount() < 4, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        await first.killNow()
        countAtKill = recordCount()
      } catch {
        await first.terminate()
        throw error
      }
      #expect(countAtKill >= 4 && countAtKill < 2 * count, "the kill must land mid-fan-out")
      print("records when killed: \(countAtKill) of \(2 * count)")

      try await withChildProcess(product: "publish-service", environment: environment) { second in
        let address = try await Self.address(of: second)
        let rpc = try makeRPCClient(address)
        let posts = Posts.Client(rpc)
        defer { Task { await rpc.close() } }
        var settled: [Posts.Post] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
          settled = []
          for id in ids { settled.append(try await posts.getPost(.init(userId: "alice", postId: id))) }
          if settled.allSatisfy({ $0.targets.allSatisfy { $0.state == .published || $0.state == .unknown || $0.state == .failed } }) {
            break
          }
          #expect(ContinuousClock.now < deadline, "targets did not settle: \(settled.flatMap(\.targets).map(\.state))")
          if ContinuousClock.now >= deadline { break }
          try await Task.sleep(for: .milliseconds(50))
        }
        let blueskyTexts = sandbox.bluesky.posts(did: did).map(\.text)
        let mastodonTexts = sandbox.mastodon.statuses(accountId: mastodonId).map(\.text)
        var unknown = 0
        var published = 0
        for post in settled {
          for target in post.targets {
            let copies = (target.platform == .bluesky ? blueskyTexts : mastodonTexts).filter { $0 == post.text }.count
            #expect(copies <= 1, "\(post.text) is on \(target.platform) \(copies) times")
            switch target.state {
            case .published:
              published += 1
              #expect(copies == 1, "\(post.text) published on \(target.platform) but not found there")
            case .unknown:
              unknown += 1
            default:
              Issue.record("\(post.text) on \(target.platform) ended \(target.state): \(target.lastError ?? "")")
            }
          }
        }
        // Only what was in flight at the kill can be unknown: at most 2 per account.
        #expect(unknown <= 4)
        #expect(published + unknown == 2 * count)
        #expect(blueskyTexts.count + mastodonTexts.count >= published)
        print("after restart: \(published) published, \(unknown) unknown; records \(blueskyTexts.count + mastodonTexts.count)")
        // SIGTERM stops it cleanly.
        await second.terminate()
        #expect(second.terminationStatus == 0, "\(second.stderrText.suffix(2000))")
        #expect(!second.stderrText.contains(testToken))
      }
    } catch {
      print("---- kill test failed with \(error); last log lines:")
      for line in backends.logs.collected.suffix(30) { print(line) }
      await backends.shutdown()
      throw error
    }
    await backends.shutdown()
  }

  static func address(of child: ChildProcess) async throws -> SocketAddress {
    let line = try await child.waitForLine(startingWith: "listening on ")
    return try #require(SocketAddress(parsing: String(line.dropFirst("listening on ".count))))
  }
}
