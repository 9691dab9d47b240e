import Foundation
import HayonDiagnostics
import HayonHTTP2
import HayonRPC
import HayonRuntime

// The diagnostics server: the RPC stack with only the Diagnostics and health services, for
// benchmarks, interop checks and operators. Configuration comes from the environment, here only.
//
//   DIAGNOSTICS_LISTEN   host:port to listen on (default 127.0.0.1:50099; port 0 picks one)
//   HAYON_RPC_TOKEN      the internal bearer credential callers must present (required)
//   DIAGNOSTICS_TLS_CERT, DIAGNOSTICS_TLS_KEY   serve TLS (ALPN h2) with these PEM files
//   DIAGNOSTICS_TLS_CLIENT_CA                   also require client certificates from this CA
//   DIAGNOSTICS_LOOPS    event loops (default: one per core)

let environment = ProcessInfo.processInfo.environment

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("diagnostics-server: \(message)\n".utf8))
  exit(2)
}

let listenText = environment["DIAGNOSTICS_LISTEN"] ?? "127.0.0.1:50099"
guard let address = SocketAddress(parsing: listenText) else { fail("DIAGNOSTICS_LISTEN must be host:port, got '\(listenText)'") }
guard let token = environment["HAYON_RPC_TOKEN"], let credential = BearerCredential(token: token) else {
  fail("HAYON_RPC_TOKEN must be set to a non-empty token of printable ASCII without spaces")
}
var configuration = RPCServer.Configuration(address: address, credential: credential)
if let certificate = environment["DIAGNOSTICS_TLS_CERT"] {
  guard let key = environment["DIAGNOSTICS_TLS_KEY"] else { fail("DIAGNOSTICS_TLS_KEY is required with DIAGNOSTICS_TLS_CERT") }
  configuration.tls = TLSConfiguration(
    certificateChainPath: certificate, privateKeyPath: key, trustRootsPath: environment["DIAGNOSTICS_TLS_CLIENT_CA"])
}
var loopCount = ProcessInfo.processInfo.activeProcessorCount
if let text = environment["DIAGNOSTICS_LOOPS"] {
  guard let value = Int(text), (1...256).contains(value) else {
    fail("DIAGNOSTICS_LOOPS must be a whole number between 1 and 256, got '\(text)'")
  }
  loopCount = value
}

let group = EventLoopGroup(loopCount: loopCount, name: "diagnostics")
let server: RPCServer
do {
  server = try RPCServer(configuration: configuration, services: [DiagnosticsService()], group: group)
} catch {
  fail("\(error)")
}

let signals = ShutdownSignals(program: "diagnostics-server")
do {
  let bound = try await server.start()
  print("listening on \(bound)")
  fflush(nil)
} catch {
  fail("cannot listen on \(address): \(error)")
}
await signals.wait()
await server.shutdown()
