import Dispatch
import HayonDiagnostics
import HayonHTTP2
import Testing

@testable import HayonRPC

/// A relay whose handler first waits on work finished by a foreign thread (as URLSession's
/// delegate queue does), then makes the client's very first call, which has to connect: the
/// shape of auth-service reporting a new connection to account-service. Before the client
/// connected from a detached task, about one call in fifty hung here until its deadline.
struct ForeignResumeRelay: RPCService {
  static let name = "hayon.test.v1.ForeignRelay"
  var serviceName: String { Self.name }
  let downstream: Diagnostics.Client

  enum Relay: UnaryMethod {
    typealias Input = Diagnostics.EchoRequest
    typealias Output = Diagnostics.EchoResponse
    static let descriptor = MethodDescriptor(service: name, method: "Relay")
  }

  func registerMethods(with router: inout RPCRouter) {
    router.register(Relay.self) { request, _ in
      await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume() }
      }
      return try await downstream.echo(request)
    }
  }
}

@Suite("First connect from a handler")
struct FirstConnectTests {
  @Test func aHandlersFirstOutboundCallConnects() async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      for worker in 0..<4 {
        group.addTask {
          for round in 0..<25 {
            var configuration = RPCServer.Configuration(
              address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: testToken))
            configuration.shutdownGracePeriod = .seconds(1)
            let downstreamServer = try RPCServer(configuration: configuration, services: [DiagnosticsService()])
            let downstreamAddress = try await downstreamServer.start()
            var clientConfiguration = RPCClient.Configuration(target: downstreamAddress, credential: BearerCredential(token: testToken))
            clientConfiguration.defaultTimeout = .seconds(1)
            clientConfiguration.connectTimeout = .seconds(1)
            clientConfiguration.maxAttempts = 1
            let downstreamClient = try RPCClient(configuration: clientConfiguration)
            let relayServer = try RPCServer(
              configuration: configuration, services: [ForeignResumeRelay(downstream: Diagnostics.Client(downstreamClient))])
            let relayAddress = try await relayServer.start()
            var callerConfiguration = RPCClient.Configuration(target: relayAddress, credential: BearerCredential(token: testToken))
            callerConfiguration.defaultTimeout = .seconds(4)
            callerConfiguration.maxAttempts = 1
            let caller = try RPCClient(configuration: callerConfiguration)
            do {
              let reply = try await caller.call(ForeignResumeRelay.Relay.self, Diagnostics.EchoRequest(message: "w\(worker)r\(round)"))
              #expect(reply.message == "w\(worker)r\(round)")
            } catch {
              Issue.record("worker \(worker) round \(round): \(error)")
            }
            await caller.close()
            await downstreamClient.close()
            await relayServer.shutdown()
            await downstreamServer.shutdown()
          }
        }
      }
      try await group.waitForAll()
    }
  }
}

@Suite("First connect, plain")
struct PlainFirstConnectTests {
  @Test func manyFreshClientsConnect() async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      for worker in 0..<4 {
        group.addTask {
          for round in 0..<50 {
            var configuration = RPCServer.Configuration(
              address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: testToken))
            configuration.shutdownGracePeriod = .seconds(1)
            let server = try RPCServer(configuration: configuration, services: [DiagnosticsService()])
            let address = try await server.start()
            var clientConfiguration = RPCClient.Configuration(target: address, credential: BearerCredential(token: testToken))
            clientConfiguration.defaultTimeout = .seconds(3)
            clientConfiguration.maxAttempts = 1
            let client = try RPCClient(configuration: clientConfiguration)
            do {
              _ = try await Diagnostics.Client(client).echo(Diagnostics.EchoRequest(message: "w\(worker)r\(round)"))
            } catch {
              Issue.record("plain worker \(worker) round \(round): \(error)")
            }
            await client.close()
            await server.shutdown()
          }
        }
      }
      try await group.waitForAll()
    }
  }
}
