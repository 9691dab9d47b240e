import Foundation
import HayonAccount
import HayonAuth
import HayonCrypto
import HayonHTTP2
import HayonPlatforms
import HayonPublish
import HayonRPC
import HayonRuntime
import HayonStore
import PublishService

// publish-service: posts, their schedule, and the fan-out to the platforms. Configuration comes
// from the environment, here only.
//
//   PUBLISH_SERVICE_LISTEN     host:port to listen on (default 127.0.0.1:50053; port 0 picks one)
//   HAYON_RPC_TOKEN            the internal bearer credential, presented and required (required)
//   HAYON_DATA_DIR             data directory (default ./data); database <dir>/publish-service.sqlite
//   AUTH_SERVICE_ADDRESS       auth-service's host:port (default 127.0.0.1:50052): credential leases
//   ACCOUNT_SERVICE_ADDRESS    account-service's host:port (default 127.0.0.1:50051): connections
//   HAYON_PLATFORM_HOST_ALLOWLIST  hosts (`host` or `host:port`, comma-separated) that may be called
//                              although they are not public https hosts (the local sandbox)
//   PUBLISH_TICK_MS            how often due targets are looked for (default 1000)
//   PUBLISH_LEASE_SECONDS      how long a claimed target may stay publishing (default 120)
//   PUBLISH_RETRY_BASE_MS      first retry delay; doubles per attempt (default 2000)
//   PUBLISH_MAX_ATTEMPTS       attempts per round before a target fails (default 5)
//   PUBLISH_HELD_POLL_SECONDS  how often held targets check for a reconnection (default 30)
//   PUBLISH_MAX_IN_FLIGHT_PER_PLATFORM, PUBLISH_MAX_IN_FLIGHT_PER_ACCOUNT   (defaults 32, 4)
//   PUBLISH_HTTP_CONNECTIONS_PER_HOST  parallel connections to one platform host (default 16)
//   PUBLISH_PLATFORM_TIMEOUT_SECONDS  a create-post call's time limit (default 15; under a third of the lease)
//   PUBLISH_SERVICE_TLS_CERT, PUBLISH_SERVICE_TLS_KEY, PUBLISH_SERVICE_TLS_CLIENT_CA   TLS as elsewhere
//   HAYON_LOG_LEVEL            debug | info | notice | warning | error (default info)

let program = "publish-service"

struct Settings: Sendable {
  var server: RPCServer.Configuration
  var authService: RPCClient.Configuration
  var accountService: RPCClient.Configuration
  var databasePath: String
  var publish: PublishConfiguration
  var connectionsPerHost: Int
  var logLevel: Logger.Level
}

let settings = ServiceEnvironment.load(program: program, ProcessInfo.processInfo.environment) {
  environment throws(ConfigurationError) in
  let credential = try environment.bearerCredential()
  var server = RPCServer.Configuration(
    address: try environment.socketAddress("PUBLISH_SERVICE_LISTEN", default: "127.0.0.1:50053"), credential: credential)
  server.tls = try environment.serverTLS(prefix: "PUBLISH_SERVICE")
  let allowList = environment.list("HAYON_PLATFORM_HOST_ALLOWLIST")
  let lease = try environment.integer("PUBLISH_LEASE_SECONDS", default: 120, in: 5...3600)
  let publish = PublishConfiguration(
    tickInterval: .milliseconds(try environment.integer("PUBLISH_TICK_MS", default: 1000, in: 10...60_000)),
    leaseDuration: TimeInterval(lease), minimumLeaseLeft: TimeInterval(lease) / 3,
    retry: RetryPolicy(
      maximumAttempts: try environment.integer("PUBLISH_MAX_ATTEMPTS", default: 5, in: 1...20),
      baseDelay: Double(try environment.integer("PUBLISH_RETRY_BASE_MS", default: 2000, in: 1...600_000)) / 1000),
    maximumInFlightPerPlatform: try environment.integer("PUBLISH_MAX_IN_FLIGHT_PER_PLATFORM", default: 32, in: 1...1000),
    maximumInFlightPerAccount: try environment.integer("PUBLISH_MAX_IN_FLIGHT_PER_ACCOUNT", default: 4, in: 1...1000),
    heldPollInterval: TimeInterval(try environment.integer("PUBLISH_HELD_POLL_SECONDS", default: 30, in: 1...86_400)),
    hostPolicy: HostPolicy(allowList: allowList),
    platformTimeout: .seconds(try environment.integer("PUBLISH_PLATFORM_TIMEOUT_SECONDS", default: min(15, lease / 3), in: 1...max(1, lease / 3))))
  return Settings(
    server: server,
    authService: try environment.rpcTarget("AUTH_SERVICE_ADDRESS", default: "127.0.0.1:50052", credential: credential),
    accountService: try environment.rpcTarget("ACCOUNT_SERVICE_ADDRESS", default: "127.0.0.1:50051", credential: credential),
    databasePath: try environment.dataDirectory().appendingPathComponent("publish-service.sqlite").path,
    publish: publish,
    connectionsPerHost: try environment.integer("PUBLISH_HTTP_CONNECTIONS_PER_HOST", default: 16, in: 1...256),
    logLevel: try environment.logLevel())
}

let logger = Logger(label: program, minimumLevel: settings.logLevel)
let store: SQLiteStore
do {
  store = try await SQLiteStore(.file(settings.databasePath), schema: PublishStore.schema)
} catch {
  ServiceEnvironment.exitWithConfigurationError(program: program, "cannot open the database \(settings.databasePath): \(error)")
}

let authClient: RPCClient
let accountClient: RPCClient
do {
  authClient = try RPCClient(configuration: settings.authService)
  accountClient = try RPCClient(configuration: settings.accountService)
} catch {
  ServiceEnvironment.exitWithConfigurationError(program: program, "cannot set up the service clients: \(error)")
}

let http = URLSessionHTTPClient(maximumConnectionsPerHost: settings.connectionsPerHost)
let publishStore = PublishStore(store: store)
let accounts = Accounts.Client(accountClient)
let posts = PostsService(
  store: publishStore, accounts: accounts, http: http, configuration: settings.publish, logger: logger.with(["part": "posts"]))
let scheduler = Scheduler(
  store: publishStore, accounts: accounts, connections: Connections.Client(authClient), http: http,
  configuration: settings.publish, logger: logger.with(["part": "scheduler"]))

let loop = Task { await scheduler.run() }
await runRPCService(program: program, configuration: settings.server, services: [posts], logger: logger) {
  loop.cancel()
  await loop.value
  await authClient.close()
  await accountClient.close()
  await store.close()
}
