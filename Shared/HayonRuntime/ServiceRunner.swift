import Foundation
import HayonHTTP2
import HayonRPC

/// Runs an RPC service executable's server from start to graceful stop:
///
/// 1. watches SIGTERM/SIGINT (before listening, so an early signal is not lost);
/// 2. builds and starts the `RPCServer` for `services` (plus `grpc.health.v1`);
/// 3. prints `listening on host:port` to stdout (the line tests and the run script wait for);
/// 4. waits for the first signal, then shuts the server down gracefully (health NOT_SERVING,
///    GOAWAY, in-flight calls finish within the grace period) and runs `afterShutdown` (close
///    stores there). A second signal while draining exits at once.
///
/// A server that cannot be built or cannot listen is a start-up failure: one line on stderr,
/// exit status 2, like a configuration error.
public struct ServiceRunner: Sendable {
  /// The executable's name, for messages (`account-service`).
  public var program: String
  public var configuration: RPCServer.Configuration
  public var logger: Logger
  public var group: EventLoopGroup

  public init(program: String, configuration: RPCServer.Configuration, logger: Logger, group: EventLoopGroup = .shared) {
    self.program = program
    self.configuration = configuration
    self.logger = logger
    self.group = group
  }

  public func run(services: [any RPCService], afterShutdown: () async -> Void = {}) async {
    let signals = ShutdownSignals(program: program)
    let server: RPCServer
    do {
      server = try RPCServer(configuration: configuration, services: services, group: group)
    } catch {
      ServiceEnvironment.exitWithConfigurationError(program: program, "cannot set up the server: \(error)")
    }
    let bound: SocketAddress
    do {
      bound = try await server.start()
    } catch {
      ServiceEnvironment.exitWithConfigurationError(program: program, "cannot listen on \(configuration.address): \(error)")
    }
    print("listening on \(bound)")
    fflush(nil)
    logger.info(
      "listening",
      ["address": bound.description, "tls": configuration.tls == nil ? "off" : "on",
       "services": services.map(\.serviceName).joined(separator: ",")])
    await signals.wait()
    logger.info("shutting down", ["gracePeriod": "\(configuration.shutdownGracePeriod)"])
    await server.shutdown()
    await afterShutdown()
    logger.info("stopped")
  }
}

/// `ServiceRunner(...).run(services:afterShutdown:)` in one call.
public func runRPCService(
  program: String, configuration: RPCServer.Configuration, services: [any RPCService], logger: Logger,
  group: EventLoopGroup = .shared, afterShutdown: () async -> Void = {}
) async {
  await ServiceRunner(program: program, configuration: configuration, logger: logger, group: group)
    .run(services: services, afterShutdown: afterShutdown)
}
