import HayonDiagnostics
import HayonHTTP2
import Testing

@testable import HayonRPC

/// A service whose handler calls another server: the shape of every Hayon service that asks
/// another one (publish-service → account-service) while answering its own caller.
struct RelayService: RPCService {
  static let name = "hayon.test.v1.Relay"
  var serviceName: String { Self.name }
  let downstream: Diagnostics.Client

  enum Relay: UnaryMethod {
    typealias Input = Diagnostics.EchoRequest
    typealias Output = Diagnostics.EchoResponse
    static let descriptor = MethodDescriptor(service: name, method: "Relay")
  }

  func registerMethods(with router: inout RPCRouter) {
    router.register(Relay.self) { request, _ in try await downstream.echo(request) }
  }
}

@Suite("Nested calls")
struct NestedCallTests {
  @Test("A handler's own outbound call on the same event loops completes", arguments: [1, 2])
  func nestedCallOnSharedLoops(loops: Int) async throws {
    let group = EventLoopGroup(loopCount: loops, name: "nested")
    var configuration = RPCServer.Configuration(
      address: SocketAddress(host: "127.0.0.1", port: 0), credential: BearerCredential(token: testToken))
    configuration.shutdownGracePeriod = .seconds(2)
    let downstreamServer = try RPCServer(configuration: configuration, services: [DiagnosticsService()], group: group)
    let downstreamAddress = try await downstreamServer.start()
    var clientConfiguration = RPCClient.Configuration(target: downstreamAddress, credential: BearerCredential(token: testToken))
    clientConfiguration.defaultTimeout = .seconds(5)
    let downstreamClient = try RPCClient(configuration: clientConfiguration, group: group)
    let relayServer = try RPCServer(
      configuration: configuration, services: [RelayService(downstream: Diagnostics.Client(downstreamClient))], group: group)
    let relayAddress = try await relayServer.start()
    var callerConfiguration = RPCClient.Configuration(target: relayAddress, credential: BearerCredential(token: testToken))
    callerConfiguration.defaultTimeout = .seconds(5)
    let caller = try RPCClient(configuration: callerConfiguration, group: group)
    for index in 0..<20 {
      let reply = try await caller.call(RelayService.Relay.self, Diagnostics.EchoRequest(message: "m\(index)"))
      #expect(reply.message == "m\(index)")
    }
    // Many at once, so handlers, their outbound calls and the replies interleave on the loops.
    try await withThrowingTaskGroup(of: Bool.self) { tasks in
      for index in 0..<100 {
        tasks.addTask {
          try await caller.call(RelayService.Relay.self, Diagnostics.EchoRequest(message: "c\(index)")).message == "c\(index)"
        }
      }
      var answered = 0
      for try await matched in tasks where matched { answered += 1 }
      #expect(answered == 100)
    }
    await caller.close()
    await downstreamClient.close()
    await relayServer.shutdown()
    await downstreamServer.shutdown()
    await group.shutdown()
  }
}
