import Dispatch
import HayonDiagnostics
import HayonHTTP2
import Testing

@testable import HayonRPC

/// A relay whose handler first waits on work finished by a foreign thread (as URLSession's
/// delegate queue does), then makes its client's very first call, which has to connect: the
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

@Suite("First connect")
struct FirstConnectTests {
  /// Four workers at once, each round with fresh servers and fresh clients, so every call
  /// connects; any hang shows as a short deadline passing.
  func rounds(_ count: Int, _ round: @escaping @Sendable (_ label: String) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
      for worker in 0..<4 {
        group.addTask {
          for index in 0..<count { try await round("w\(worker)r\(index)") }
        }
      }
      try await group.waitForAll()
    }
  }

  static func quick(_ configuration: inout RPCClient.Configuration) {
    configuration.defaultTimeout = .seconds(3)
    configuration.connectTimeout = .seconds(2)
    configuration.maxAttempts = 1
  }

  @Test func aHandlersFirstOutboundCallConnects() async throws {
    try await rounds(25) { label in
      try await withTestServer { _, downstreamAddress in
        let downstream = try makeClient(downstreamAddress, configure: Self.quick)
        try await withTestServer(services: [ForeignResumeRelay(downstream: Diagnostics.Client(downstream))]) { _, relayAddress in
          let caller = try makeClient(relayAddress, configure: Self.quick)
          do {
            let reply = try await caller.call(ForeignResumeRelay.Relay.self, Diagnostics.EchoRequest(message: label))
            #expect(reply.message == label)
          } catch {
            Issue.record("\(label): \(error)")
          }
          await caller.close()
        }
        await downstream.close()
      }
    }
  }

  @Test func freshClientsConnect() async throws {
    try await rounds(50) { label in
      try await withTestServer { _, address in
        let client = try makeClient(address, configure: Self.quick)
        do {
          #expect(try await Diagnostics.Client(client).echo(Diagnostics.EchoRequest(message: label)).message == label)
        } catch {
          Issue.record("\(label): \(error)")
        }
        await client.close()
      }
    }
  }
}
