import AuthService
import AuthUsers
import Foundation
import HayonAccount
import HayonCrypto
import HayonHTTP2
import HayonPlatforms
import HayonRPC
import HayonRuntime
import HayonStore

// auth-service: Hayon users (sign-up, login, sessions) and platform connections (sign-in flows,
// the sealed token vault, credential leases). Configuration comes from the environment, here only.
//
//   AUTH_SERVICE_LISTEN        host:port to listen on (default 127.0.0.1:50052; port 0 picks one)
//   HAYON_RPC_TOKEN            the internal bearer credential, presented and required (required)
//   ACCOUNT_SERVICE_ADDRESS    account-service's host:port (default 127.0.0.1:50051)
//   HAYON_DATA_DIR             data directory (default ./data); database <dir>/auth-service.sqlite
//   HAYON_VAULT_KEYS           vault keys, `id:base64,...`, 32 bytes each (required)
//   HAYON_VAULT_KEY_ID         the key new seals use (default: the only key)
//   HAYON_ACCESS_TOKEN_KEYS    access-token signing keys, `id:base64,...`, 32-64 bytes (required)
//   HAYON_ACCESS_TOKEN_KEY_ID  the key new tokens are signed with (default: the only key)
//   BLUESKY_PDS_URL            where Bluesky sign-ins go (default https://bsky.social)
//   MASTODON_INSTANCE_URL      the instance used when a user names none (default https://mastodon.social)
//   MASTODON_REDIRECT_URI      the gateway's Mastodon callback
//                              (default http://127.0.0.1:8080/api/platform/mastodon/callback)
//   HAYON_PLATFORM_HOST_ALLOWLIST  hosts (`host` or `host:port`, comma-separated) users may name
//                              although they are not public https hosts (the local sandbox)
//   AUTH_SERVICE_TLS_CERT, AUTH_SERVICE_TLS_KEY, AUTH_SERVICE_TLS_CLIENT_CA   TLS as elsewhere
//   HAYON_LOG_LEVEL            debug | info | notice | warning | error (default info)

let program = "auth-service"

struct Settings: Sendable {
  var server: RPCServer.Configuration
  var accountService: RPCClient.Configuration
  var databasePath: String
  var vaultKeys: String
  var vaultKeyID: String
  var accessTokenKeys: String
  var accessTokenKeyID: String
  var connections: ConnectionsConfiguration
  var logLevel: Logger.Level
}

/// The current key id: named, or the only key of the ring.
func currentKeyID(_ environment: ServiceEnvironment, keys: String, keysName: String, idName: String) throws(ConfigurationError) -> String {
  if let id = environment.optionalString(idName) { return id }
  let entries = keys.split(separator: ",")
  guard entries.count == 1, let colon = entries[0].firstIndex(of: ":") else {
    throw ConfigurationError(idName, "\(idName) is required when \(keysName) holds more than one key")
  }
  return entries[0][..<colon].trimmingCharacters(in: .whitespaces)
}

func originURL(_ environment: ServiceEnvironment, _ name: String, default defaultValue: String) throws(ConfigurationError) -> URL {
  let text = environment.optionalString(name) ?? defaultValue
  do {
    return try HostPolicy.normaliseOrigin(text)
  } catch {
    throw ConfigurationError(name, "\(name) \(error.description)")
  }
}

let settings = ServiceEnvironment.load(program: program, ProcessInfo.processInfo.environment) {
  environment throws(ConfigurationError) in
  let credential = try environment.bearerCredential()
  var server = RPCServer.Configuration(
    address: try environment.socketAddress("AUTH_SERVICE_LISTEN", default: "127.0.0.1:50052"), credential: credential)
  server.tls = try environment.serverTLS(prefix: "AUTH_SERVICE")
  let accountService = try environment.rpcTarget("ACCOUNT_SERVICE_ADDRESS", default: "127.0.0.1:50051", credential: credential)
  let vaultKeys = try environment.requiredString("HAYON_VAULT_KEYS")
  let accessTokenKeys = try environment.requiredString("HAYON_ACCESS_TOKEN_KEYS")
  let redirect = environment.optionalString("MASTODON_REDIRECT_URI") ?? "http://127.0.0.1:8080/api/platform/mastodon/callback"
  guard let redirectURL = URLComponents(string: redirect), ["http", "https"].contains(redirectURL.scheme ?? ""),
    redirectURL.host?.isEmpty == false, redirect.utf8.count <= 2048
  else {
    throw ConfigurationError("MASTODON_REDIRECT_URI", "MASTODON_REDIRECT_URI must be an absolute http(s) URL")
  }
  let allowList = environment.list("HAYON_PLATFORM_HOST_ALLOWLIST")
  let connections = ConnectionsConfiguration(
    blueskyServiceURL: try originURL(environment, "BLUESKY_PDS_URL", default: "https://bsky.social"),
    mastodonDefaultInstance: try originURL(environment, "MASTODON_INSTANCE_URL", default: "https://mastodon.social"),
    mastodonRedirectURI: redirect, hostPolicy: HostPolicy(allowList: allowList))
  return Settings(
    server: server, accountService: accountService,
    databasePath: try environment.dataDirectory().appendingPathComponent("auth-service.sqlite").path,
    vaultKeys: vaultKeys,
    vaultKeyID: try currentKeyID(environment, keys: vaultKeys, keysName: "HAYON_VAULT_KEYS", idName: "HAYON_VAULT_KEY_ID"),
    accessTokenKeys: accessTokenKeys,
    accessTokenKeyID: try currentKeyID(
      environment, keys: accessTokenKeys, keysName: "HAYON_ACCESS_TOKEN_KEYS", idName: "HAYON_ACCESS_TOKEN_KEY_ID"),
    connections: connections, logLevel: try environment.logLevel())
}

let logger = Logger(label: program, minimumLevel: settings.logLevel)
let sealer: Sealer
let signingKeys: KeyRing
do {
  sealer = try Sealer(keyConfiguration: settings.vaultKeys, current: settings.vaultKeyID)
} catch {
  ServiceEnvironment.exitWithConfigurationError(program: program, "HAYON_VAULT_KEYS: \(error)")
}
do {
  signingKeys = try KeyRing(parsing: settings.accessTokenKeys, current: settings.accessTokenKeyID, allowedKeyLengths: 32...64)
} catch {
  ServiceEnvironment.exitWithConfigurationError(program: program, "HAYON_ACCESS_TOKEN_KEYS: \(error)")
}

let store: SQLiteStore
do {
  store = try await SQLiteStore(
    .file(settings.databasePath), schema: StoreSchema(collections: AuthStore.collections + UsersStore.collections))
} catch {
  ServiceEnvironment.exitWithConfigurationError(program: program, "cannot open the database \(settings.databasePath): \(error)")
}

let users: UsersService
do {
  users = try UsersService(store: store, signingKeys: signingKeys, logger: logger.with(["part": "users"]))
} catch {
  ServiceEnvironment.exitWithConfigurationError(program: program, "\(error)")
}

let accountClient: RPCClient
do {
  accountClient = try RPCClient(configuration: settings.accountService)
} catch {
  ServiceEnvironment.exitWithConfigurationError(program: program, "ACCOUNT_SERVICE_ADDRESS: \(error)")
}

let connections = ConnectionsService(
  store: store, sealer: sealer, accounts: Accounts.Client(accountClient), http: URLSessionHTTPClient(),
  configuration: settings.connections, logger: logger.with(["part": "connections"]))

let purge = Task { await users.purgeExpiredPeriodically(every: .seconds(3600)) }
await runRPCService(program: program, configuration: settings.server, services: [users, connections], logger: logger) {
  purge.cancel()
  await accountClient.close()
  await store.close()
}
