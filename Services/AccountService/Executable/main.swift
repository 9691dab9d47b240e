import AccountService
import Foundation
import HayonCrypto
import HayonHTTP2
import HayonRPC
import HayonRuntime
import HayonStore

// account-service: the SocialAccount documents and connection health, over RPC. Configuration
// comes from the environment, here only.
//
//   ACCOUNT_SERVICE_LISTEN   host:port to listen on (default 127.0.0.1:50051; port 0 picks one)
//   HAYON_RPC_TOKEN          the internal bearer credential callers must present (required)
//   HAYON_DATA_DIR           data directory (default ./data, created); the database is
//                            <dir>/account-service.sqlite
//   ACCOUNT_SERVICE_TLS_CERT, ACCOUNT_SERVICE_TLS_KEY   serve TLS (ALPN h2) with these PEM files
//   ACCOUNT_SERVICE_TLS_CLIENT_CA                       also require client certificates from this CA
//   HAYON_LOG_LEVEL          debug | info | notice | warning | error (default info)

let program = "account-service"

struct Settings {
  var server: RPCServer.Configuration
  var databasePath: String
  var logLevel: Logger.Level
}

let settings = ServiceEnvironment.load(program: program, ProcessInfo.processInfo.environment) {
  environment throws(ConfigurationError) in
  var server = RPCServer.Configuration(
    address: try environment.socketAddress("ACCOUNT_SERVICE_LISTEN", default: "127.0.0.1:50051"),
    credential: try environment.bearerCredential())
  server.tls = try environment.serverTLS(prefix: "ACCOUNT_SERVICE")
  let dataDirectory = try environment.dataDirectory()
  let logLevel = try environment.logLevel()
  return Settings(
    server: server, databasePath: dataDirectory.appendingPathComponent("account-service.sqlite").path, logLevel: logLevel)
}

let logger = Logger(label: program, minimumLevel: settings.logLevel)
let store: SQLiteStore
do {
  store = try await SQLiteStore(.file(settings.databasePath), schema: AccountStore.schema)
} catch {
  ServiceEnvironment.exitWithConfigurationError(program: program, "cannot open the database \(settings.databasePath): \(error)")
}
let service = SocialAccountService(accounts: AccountStore(store: store), clock: SystemWallClock(), logger: logger)
await runRPCService(program: program, configuration: settings.server, services: [service], logger: logger) {
  await store.close()
}
