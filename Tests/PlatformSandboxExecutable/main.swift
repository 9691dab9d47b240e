import Foundation
import HayonHTTP2
import HayonRuntime
import PlatformSandbox

// platform-sandbox: the offline Bluesky and Mastodon emulators on one HTTP/1.1 port, for local
// runs and end-to-end tests. Configuration comes from the environment, here only.
//
//   SANDBOX_LISTEN      host:port to listen on (default 127.0.0.1:8090; port 0 picks one)
//   SANDBOX_SEED        optional path to a JSON seed file:
//                       {"bluesky":[{"handle","password","displayName"?,"avatarUrl"?,"requiresAuthFactor"?}],
//                        "mastodon":[{"username","displayName"?,"avatarUrl"?}]}
//   SANDBOX_SEED_DEMO=1 adds demo.bsky.social (app password abcd-efgh-ijkl-mnop) and Mastodon "demo"
//
// Prints `listening on HOST:PORT` on stdout once ready; SIGTERM/SIGINT shut down gracefully.

let program = "platform-sandbox"
let environment = ProcessInfo.processInfo.environment

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("\(program): \(message)\n".utf8))
  exit(2)
}

let listen = environment["SANDBOX_LISTEN"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1:8090"
guard let address = SocketAddress(parsing: listen) else { fail("SANDBOX_LISTEN must be host:port, got \(listen)") }

struct Seed: Decodable {
  struct BlueskyAccount: Decodable {
    var handle: String
    var password: String
    var displayName: String?
    var avatarUrl: String?
    var requiresAuthFactor: Bool?
  }
  struct MastodonAccount: Decodable {
    var username: String
    var displayName: String?
    var avatarUrl: String?
  }
  var bluesky: [BlueskyAccount]?
  var mastodon: [MastodonAccount]?
}

var seed = Seed()
if let path = environment["SANDBOX_SEED"], !path.isEmpty {
  do {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    guard data.count <= 4 * 1024 * 1024 else { fail("seed file \(path) is larger than 4 MiB") }
    seed = try JSONDecoder().decode(Seed.self, from: data)
  } catch {
    fail("cannot read seed file \(path): \(error)")
  }
}

let signals = ShutdownSignals(program: program)
var configuration = PlatformSandbox.Configuration()
configuration.address = address
let sandbox: PlatformSandbox
do {
  sandbox = try await PlatformSandbox.start(configuration)
} catch {
  fail("cannot listen on \(listen): \(error)")
}

if environment["SANDBOX_SEED_DEMO"] == "1" {
  sandbox.bluesky.addAccount(handle: "demo.bsky.social", password: "abcd-efgh-ijkl-mnop", displayName: "Demo")
  sandbox.mastodon.addAccount(username: "demo", displayName: "Demo")
}
for account in seed.bluesky ?? [] {
  sandbox.bluesky.addAccount(
    handle: account.handle, password: account.password, displayName: account.displayName,
    avatarUrl: account.avatarUrl, requiresAuthFactor: account.requiresAuthFactor ?? false)
}
for account in seed.mastodon ?? [] {
  sandbox.mastodon.addAccount(username: account.username, displayName: account.displayName, avatarUrl: account.avatarUrl)
}

FileHandle.standardOutput.write(Data("listening on \(sandbox.baseURL.dropFirst("http://".count))\n".utf8))
await signals.wait()
await sandbox.shutdown()
exit(0)
