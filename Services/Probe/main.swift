import Foundation
import HayonHTTP2
import HayonPlatforms
import HayonRPC

// hayon-probe: a health probe for the local run and container health checks.
//
//   hayon-probe grpc HOST:PORT [SERVICE]   grpc.health.v1.Health/Check (no credential needed);
//                                          exit 0 when SERVING
//   hayon-probe http URL                   GET; exit 0 on a 2xx answer
//
// Exit 1 when the target answers otherwise or not at all within 3 seconds, 2 on bad arguments.
// Prints one line saying what it saw.

func usage() -> Never {
  FileHandle.standardError.write(Data("usage: hayon-probe grpc HOST:PORT [SERVICE] | hayon-probe http URL\n".utf8))
  exit(2)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 2 else { usage() }

switch arguments[0] {
case "grpc":
  guard let address = SocketAddress(parsing: arguments[1]), arguments.count <= 3 else { usage() }
  var configuration = RPCClient.Configuration(target: address, credential: nil)
  configuration.contentType = "application/grpc+json"
  configuration.defaultTimeout = .seconds(3)
  configuration.connectTimeout = .seconds(3)
  configuration.maxAttempts = 1
  let client = try RPCClient(configuration: configuration)
  do {
    let answer = try await client.call(HealthService.Check.self, .init(service: arguments.count == 3 ? arguments[2] : ""))
    await client.close()
    print("\(address): \(answer.status)")
    exit(answer.status == "SERVING" ? 0 : 1)
  } catch {
    await client.close()
    print("\(address): \(error)")
    exit(1)
  }
case "http":
  guard arguments.count == 2, let url = URL(string: arguments[1]), ["http", "https"].contains(url.scheme ?? "") else { usage() }
  do {
    let response = try await URLSessionHTTPClient().send(PlatformHTTPRequest(method: "GET", url: url, timeout: .seconds(3)))
    print("\(url.absoluteString): HTTP \(response.status)")
    exit(response.isSuccess ? 0 : 1)
  } catch {
    print("\(url.absoluteString): \(error)")
    exit(1)
  }
default:
  usage()
}
