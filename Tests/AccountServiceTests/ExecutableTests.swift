import Foundation
import HayonAccount
import HayonHTTP2
import HayonModel
import HayonRPC
import HayonTestSupport
import Testing

@Suite("account-service executable")
struct ExecutableTests {
  @Test("prints listening on, answers health and the contract, stops cleanly on SIGTERM, keeps its data")
  func runs() async throws {
    try await withTemporaryDirectory { directory in
      let dataDirectory = directory.appendingPathComponent("data/nested").path
      let environment = [
        "ACCOUNT_SERVICE_LISTEN": "127.0.0.1:0", "HAYON_RPC_TOKEN": testToken, "HAYON_DATA_DIR": dataDirectory,
      ]
      let written = try await withChildProcess(product: "account-service", environment: environment) { child in
        let line = try await child.waitForLine(startingWith: "listening on ")
        let address = try #require(SocketAddress(parsing: String(line.dropFirst("listening on ".count))))
        #expect(address.port != 0)

        let health = try makeRPCClient(address, contentType: "application/grpc+json")
        let serving = try await health.call(HealthService.Check.self, .init(service: Accounts.serviceName))
        #expect(serving.status == "SERVING")
        await health.close()

        let rpc = try makeRPCClient(address)
        let client = Accounts.Client(rpc)
        let account = try await client.markConnected(Sample.connect(.threads))
        #expect(account[.threads].connected)
        await rpc.close()

        await child.terminate()
        #expect(!child.isRunning)
        #expect(child.terminationStatus == 0, "\(child.stderrText)")
        let logs = child.stderrText
        #expect(logs.contains(#""message":"stopped""#))
        #expect(!logs.contains(testToken))
        return account
      }
      #expect(FileManager.default.fileExists(atPath: dataDirectory + "/account-service.sqlite"))

      // A second run on the same directory reads the same document.
      try await withChildProcess(product: "account-service", environment: environment) { child in
        let line = try await child.waitForLine(startingWith: "listening on ")
        let address = try #require(SocketAddress(parsing: String(line.dropFirst("listening on ".count))))
        let rpc = try makeRPCClient(address)
        let reread = try await Accounts.Client(rpc).getAccount(.init(userId: Sample.userId))
        await rpc.close()
        #expect(reread == written)
      }
    }
  }

  @Test("bad configuration: one clear line, exit status 2, secrets not echoed", arguments: [
    ([String: String](), "account-service: HAYON_RPC_TOKEN is required"),
    (["HAYON_RPC_TOKEN": "has space secret-value"],
     "account-service: HAYON_RPC_TOKEN must be printable ASCII without spaces (the value is not shown)"),
    (["HAYON_RPC_TOKEN": "t", "ACCOUNT_SERVICE_LISTEN": "localhost"],
     "account-service: ACCOUNT_SERVICE_LISTEN must be host:port (e.g. 127.0.0.1:50051), got 'localhost'"),
    (["HAYON_RPC_TOKEN": "t", "ACCOUNT_SERVICE_LISTEN": "127.0.0.1:0", "ACCOUNT_SERVICE_TLS_CERT": "/tmp/c.pem"],
     "account-service: ACCOUNT_SERVICE_TLS_KEY is required with ACCOUNT_SERVICE_TLS_CERT"),
    (["HAYON_RPC_TOKEN": "t", "ACCOUNT_SERVICE_LISTEN": "127.0.0.1:0", "HAYON_LOG_LEVEL": "loud"],
     "account-service: HAYON_LOG_LEVEL must be one of debug, info, notice, warning, error"),
  ])
  func badConfiguration(environment: [String: String], expected: String) async throws {
    try await withTemporaryDirectory { directory in
      var environment = environment
      environment["HAYON_DATA_DIR"] = directory.path
      let child = try ChildProcess(product: "account-service", environment: environment)
      let exited = await child.waitForExit()
      if !exited { await child.terminate() }
      #expect(exited)
      #expect(child.terminationStatus == 2)
      #expect(child.stderrText == expected + "\n")
      #expect(!child.stderrText.contains("secret-value"))
      #expect(child.stdoutText.isEmpty)
    }
  }
}
