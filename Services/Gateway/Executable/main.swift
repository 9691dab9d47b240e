import Foundation
import Gateway
import HayonAccount
import HayonAuth
import HayonHTTP2
import HayonPublish
import HayonRPC
import HayonRuntime
import HayonUsers

// gateway: the public REST API (HTTP/1.1, h2c, h2 over TLS) in front of auth-service,
// account-service and publish-service. Configuration comes from the environment, here only.
//
//   GATEWAY_LISTEN             host:port to listen on (default 127.0.0.1:8080; port 0 picks one)
//   HAYON_RPC_TOKEN            the internal bearer credential presented to the services (required)
//   AUTH_SERVICE_ADDRESS       auth-service's host:port (default 127.0.0.1:50052)
//   ACCOUNT_SERVICE_ADDRESS    account-service's host:port (default 127.0.0.1:50051)
//   PUBLISH_SERVICE_ADDRESS    publish-service's host:port (default 127.0.0.1:50053)
//   GATEWAY_TLS_CERT, GATEWAY_TLS_KEY  PEM files: serve TLS with ALPN h2 on the port
//   GATEWAY_PUBLIC_URL         the public origin for absolute links (`https://hayon.example`)
//   GATEWAY_ACCOUNT_CONNECTIONS  RPC clients for account-service, used in turn (1-8, default 1); each
//                              keeps one HTTP/2 connection per event loop
//   HAYON_LOG_LEVEL            debug | info | notice | warning | error (default info)

let program = "gateway"

struct Settings: Sendable {
  var listen: SocketAddress
  var tls: TLSConfiguration?
  var auth: RPCClient.Configuration
  var account: RPCClient.Configuration
  var publish: RPCClient.Configuration
  var publicURL: String?
  var accountConnections: Int
  var logLevel: Logger.Level
}

let settings = ServiceEnvironment.load(program: program, ProcessInfo.processInfo.environment) {
  environment throws(ConfigurationError) in
  let credential = try environment.bearerCredential()
  var publicURL = environment.optionalString("GATEWAY_PUBLIC_URL")
  if let url = publicURL {
    guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme ?? ""),
      components.host?.isEmpty == false, components.query == nil, components.fragment == nil
    else {
      throw ConfigurationError("GATEWAY_PUBLIC_URL", "GATEWAY_PUBLIC_URL must be an absolute http(s) origin")
    }
    while publicURL?.hasSuffix("/") == true { publicURL?.removeLast() }
  }
  func client(_ name: String, _ defaultValue: String) throws(ConfigurationError) -> RPCClient.Configuration {
    var configuration = try environment.rpcTarget(name, default: defaultValue, credential: credential)
    configuration.contentType = "application/grpc+json"
    configuration.defaultTimeout = .seconds(10)
    return configuration
  }
  return Settings(
    listen: try environment.socketAddress("GATEWAY_LISTEN", default: "127.0.0.1:8080"),
    tls: try environment.serverTLS(prefix: "GATEWAY"),
    auth: try client("AUTH_SERVICE_ADDRESS", "127.0.0.1:50052"),
    account: try client("ACCOUNT_SERVICE_ADDRESS", "127.0.0.1:50051"),
    publish: try client("PUBLISH_SERVICE_ADDRESS", "127.0.0.1:50053"),
    publicURL: publicURL,
    accountConnections: try environment.integer("GATEWAY_ACCOUNT_CONNECTIONS", default: 1, in: 1...8),
    logLevel: try environment.logLevel())
}

let logger = Logger(label: program, minimumLevel: settings.logLevel)
let signals = ShutdownSignals(program: program)

let authClient: RPCClient
let accountClient: RPCClient
let publishClient: RPCClient
var extraAccountClients: [RPCClient] = []
// The gateway reads from account-service on (almost) every request: a connection on each event
// loop keeps a handler's call on its own thread.
var accountConfiguration = settings.account
accountConfiguration.connectionPerLoop = true
do {
  authClient = try RPCClient(configuration: settings.auth)
  accountClient = try RPCClient(configuration: accountConfiguration)
  publishClient = try RPCClient(configuration: settings.publish)
  for _ in 1..<settings.accountConnections { extraAccountClients.append(try RPCClient(configuration: accountConfiguration)) }
} catch {
  ServiceEnvironment.exitWithConfigurationError(program: program, "cannot set up the service clients: \(error)")
}

var gatewayConfiguration = GatewayConfiguration(publicURL: settings.publicURL)
if settings.tls != nil { gatewayConfiguration.secureCookies = true }
let gateway = Gateway(
  configuration: gatewayConfiguration,
  backends: GatewayBackends(
    users: Users.Client(authClient), connections: Connections.Client(authClient), accounts: Accounts.Client(accountClient),
    posts: Posts.Client(publishClient),
    healthTargets: [("auth-service", authClient), ("account-service", accountClient), ("publish-service", publishClient)],
    additionalAccounts: extraAccountClients.map(Accounts.Client.init)),
  logger: logger)

let backendsAtStart = await gateway.connectBackends()
logger.info("backends at start", backendsAtStart)

let server: GatewayServer
let bound: SocketAddress
do {
  server = try GatewayServer(configuration: GatewayServer.Configuration(address: settings.listen, tls: settings.tls), gateway: gateway)
  bound = try await server.start()
} catch {
  ServiceEnvironment.exitWithConfigurationError(program: program, "cannot listen on \(settings.listen): \(error)")
}
print("listening on \(bound)")
fflush(nil)
logger.info("listening", ["address": bound.description, "tls": settings.tls == nil ? "off" : "on"])
await signals.wait()
logger.info("shutting down")
await server.shutdown()
await authClient.close()
await accountClient.close()
await publishClient.close()
for client in extraAccountClients { await client.close() }
logger.info("stopped")
