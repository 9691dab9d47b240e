import AccountService
import AuthService
import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonHTTP2
import HayonModel
import HayonPlatforms
import HayonPublish
import HayonRPC
import HayonRuntime
import HayonStore
import PlatformSandbox

// publish-bench: schedules BENCH_POSTS posts x 2 targets (Bluesky + Mastodon), all due at the
// same second, on a `publish-service` child process, with the platform sandbox answering
// instantly and account-service + auth-service in this process. Reports the time until all are
// published, targets per second, the p50/p99 delay from the due time to the platform call,
// publish-service's peak memory (VmHWM), and the duplicate and lost counts.
//
//   BENCH_POSTS (default 10000), BENCH_USERS (default 100), BENCH_IN_FLIGHT (per platform, default 64),
//   BENCH_CONNECTIONS (publish-service's HTTP connections per platform host, default 64)
//   PUBLISH_SERVICE_BINARY (default: publish-service beside this executable)

let environment = ProcessInfo.processInfo.environment
let postCount = Int(environment["BENCH_POSTS"] ?? "") ?? 10_000
let userCount = max(1, min(postCount, Int(environment["BENCH_USERS"] ?? "") ?? 100))
let inFlight = Int(environment["BENCH_IN_FLIGHT"] ?? "") ?? 64
let connectionsPerHost = Int(environment["BENCH_CONNECTIONS"] ?? "") ?? 64
let binary = environment["PUBLISH_SERVICE_BINARY"]
  ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("publish-service").path
let token = "bench-\(UInt64.random(in: 1...UInt64.max))"
let password = "abcd-efgh-ijkl-mnop"

func say(_ text: String) {
  print(text)
  fflush(nil)
}

func client(_ address: SocketAddress) throws -> RPCClient {
  var configuration = RPCClient.Configuration(target: address, credential: BearerCredential(token: token))
  configuration.defaultTimeout = .seconds(60)
  return try RPCClient(configuration: configuration)
}

func server(_ services: [any RPCService]) async throws -> (RPCServer, SocketAddress) {
  let server = try RPCServer(
    configuration: RPCServer.Configuration(address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: token)),
    services: services)
  return (server, try await server.start())
}

let quiet = Logger(label: "bench", minimumLevel: .error)

// Platforms, with their write limits lifted (the benchmark measures publish-service).
var sandboxConfiguration = PlatformSandbox.Configuration()
sandboxConfiguration.clock = SandboxClock(start: Date())
let sandbox = try await PlatformSandbox.start(sandboxConfiguration)
sandbox.bluesky.setRepoWriteLimits(pointsPerHour: 1_000_000_000, pointsPerDay: 1_000_000_000)
sandbox.mastodon.statusesPerThreeHours = 1_000_000_000
let sandboxHost = String(sandbox.baseURL.dropFirst("http://".count))

let accountStore = try await SQLiteStore(.inMemory, schema: AccountStore.schema)
let (accountServer, accountAddress) = try await server([
  SocialAccountService(accounts: AccountStore(store: accountStore), clock: SystemWallClock(), logger: quiet)
])
let authStore = try await SQLiteStore(.inMemory, schema: AuthStore.schema)
let accountsForAuth = try client(accountAddress)
_ = try await Accounts.Client(accountsForAuth).getAccount(.init(userId: "warm-up"))
let http = URLSessionHTTPClient()
let sandboxURL = URL(string: sandbox.baseURL)!
let (authServer, authAddress) = try await server([
  ConnectionsService(
    store: authStore, sealer: try Sealer(keys: ["k1": SecureRandom.bytes(32)], current: "k1"), accounts: Accounts.Client(accountsForAuth),
    http: http,
    configuration: ConnectionsConfiguration(
      blueskyServiceURL: sandboxURL, mastodonDefaultInstance: sandboxURL, hostPolicy: HostPolicy(allowList: [sandboxHost])),
    logger: quiet)
])
let connections = Connections.Client(try client(authAddress))

say("connecting \(userCount) users on both platforms…")
var dids: [String] = []
var mastodonIds: [String] = []
for user in 0..<userCount {
  let userId = "u\(user)"
  dids.append(sandbox.bluesky.addAccount(handle: "u\(user).bench", password: password))
  _ = try await connections.connectBluesky(.init(userId: userId, identifier: "u\(user).bench", appPassword: password))
  let id = sandbox.mastodon.addAccount(username: "u\(user)")
  mastodonIds.append(id)
  sandbox.mastodon.setSignedInAccount(id)
  let begin = try await connections.beginConnect(.init(userId: userId, platform: .mastodon))
  let redirect = try await http.send(PlatformHTTPRequest(method: "GET", url: URL(string: begin.authorizeUrl)!))
  let items = URLComponents(string: redirect.header("location") ?? "")?.queryItems ?? []
  _ = try await connections.completeConnect(
    .init(platform: .mastodon, state: items.first { $0.name == "state" }?.value, code: items.first { $0.name == "code" }?.value))
}

// publish-service, as it runs in production (its own process and database).
let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("hayon-publish-bench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
let child = Process()
child.executableURL = URL(fileURLWithPath: binary)
child.environment = [
  "PUBLISH_SERVICE_LISTEN": "127.0.0.1:0", "HAYON_RPC_TOKEN": token, "HAYON_DATA_DIR": dataDirectory.path,
  "AUTH_SERVICE_ADDRESS": authAddress.description, "ACCOUNT_SERVICE_ADDRESS": accountAddress.description,
  "HAYON_PLATFORM_HOST_ALLOWLIST": sandboxHost, "PUBLISH_TICK_MS": "100", "PUBLISH_MAX_IN_FLIGHT_PER_PLATFORM": "\(inFlight)",
  "PUBLISH_MAX_IN_FLIGHT_PER_ACCOUNT": "4", "PUBLISH_HTTP_CONNECTIONS_PER_HOST": "\(connectionsPerHost)",
  "HAYON_LOG_LEVEL": "warning",
]
let output = Pipe()
child.standardOutput = output
child.standardError = FileHandle.standardError
try child.run()
var line = ""
while !line.contains("\n") {
  let data = output.fileHandleForReading.availableData
  if data.isEmpty { fatalError("publish-service exited before listening") }
  line += String(decoding: data, as: UTF8.self)
}
guard let listening = line.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }),
  let publishAddress = SocketAddress(parsing: String(listening.dropFirst("listening on ".count)))
else { fatalError("unexpected output: \(line)") }
let posts = Posts.Client(try client(publishAddress))

// All due at the same second, far enough ahead for the creates to finish first.
let lead = max(10.0, Double(postCount) / 300)
let dueDate = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + lead).rounded(.up))
let due = Timestamp(dueDate).iso8601
say("creating \(postCount) posts x 2 targets due at \(due)…")
let createStart = Date()
try await withThrowingTaskGroup(of: Void.self) { group in
  let workers = 8
  for worker in 0..<workers {
    group.addTask {
      var number = worker
      while number < postCount {
        _ = try await posts.createPost(
          .init(userId: "u\(number % userCount)", text: "bench post #\(number)", platforms: [.bluesky, .mastodon], scheduledAt: due))
        number += workers
      }
    }
  }
  try await group.waitForAll()
}
let createdIn = Date().timeIntervalSince(createStart)
say(String(format: "created in %.1f s%@", createdIn, Date() > dueDate ? " (AFTER the due time: delays are inflated)" : ""))

@MainActor func published() -> Int {
  dids.reduce(0) { $0 + sandbox.bluesky.posts(did: $1).count } + mastodonIds.reduce(0) { $0 + sandbox.mastodon.statuses(accountId: $1).count }
}
while Date() < dueDate { try await Task.sleep(for: .milliseconds(20)) }
var finished = Date()
let giveUp = Date().addingTimeInterval(900)
while published() < 2 * postCount, Date() < giveUp {
  try await Task.sleep(for: .milliseconds(20))
  finished = Date()
}
let total = Date().timeIntervalSince(dueDate)
let peak = (try? String(contentsOfFile: "/proc/\(child.processIdentifier)/status", encoding: .utf8))?
  .split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.map { $0.dropFirst("VmHWM:".count).trimmingCharacters(in: .whitespaces) } ?? "?"

// Delays from the due time to the platform call: Bluesky records carry the publisher's
// createdAt (stamped right before the call); Mastodon's come from the target's publishedAt.
var delays: [Double] = []
var blueskyTexts: [String: Int] = [:]
var mastodonTexts: [String: Int] = [:]
for did in dids {
  for record in sandbox.bluesky.posts(did: did) {
    blueskyTexts[record.text, default: 0] += 1
    if let created = Timestamp(iso8601: record.createdAt) { delays.append(created.date.timeIntervalSince(dueDate)) }
  }
}
for id in mastodonIds {
  for status in sandbox.mastodon.statuses(accountId: id) { mastodonTexts[status.text, default: 0] += 1 }
}
var pageToken: String? = nil
for user in 0..<userCount {
  pageToken = nil
  repeat {
    let page = try await posts.listPosts(.init(userId: "u\(user)", pageSize: 100, pageToken: pageToken))
    for post in page.posts {
      if let published = post.target(.mastodon)?.publishedAt { delays.append(published.date.timeIntervalSince(dueDate)) }
    }
    pageToken = page.nextPageToken
  } while pageToken != nil
}
delays.sort()
@MainActor func percentile(_ p: Double) -> Double { delays.isEmpty ? .nan : delays[min(delays.count - 1, Int(Double(delays.count) * p))] }
let duplicates = blueskyTexts.values.filter { $0 > 1 }.count + mastodonTexts.values.filter { $0 > 1 }.count
var lost = 0
for number in 0..<postCount {
  if blueskyTexts["bench post #\(number)"] == nil { lost += 1 }
  if mastodonTexts["bench post #\(number)"] == nil { lost += 1 }
}
let targets = 2 * postCount
say("")
say("| measure | value |")
say("| --- | --- |")
say("| posts x targets | \(postCount) x 2 = \(targets) (\(userCount) users) |")
say(String(format: "| time until all published (from the due second) | %.2f s |", finished.timeIntervalSince(dueDate)))
say(String(format: "| targets per second | %.0f |", Double(published()) / max(0.001, finished.timeIntervalSince(dueDate))))
say(String(format: "| delay due → platform call, p50 / p99 | %.2f s / %.2f s |", percentile(0.5), percentile(0.99)))
say("| publish-service peak memory (VmHWM) | \(peak) |")
say("| duplicates | \(duplicates) |")
say("| lost | \(lost) |")
say(String(format: "| (wall time measured) | %.2f s |", total))

child.terminate()
child.waitUntilExit()
try? FileManager.default.removeItem(at: dataDirectory)
await authServer.shutdown()
await accountServer.shutdown()
await sandbox.shutdown()
exit(duplicates == 0 && lost == 0 ? 0 : 1)
