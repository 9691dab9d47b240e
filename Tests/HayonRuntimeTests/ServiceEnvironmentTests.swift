import Foundation
import HayonHTTP2
import HayonRPC
import HayonRuntime
import Testing

@Suite("ServiceEnvironment")
struct ServiceEnvironmentTests {
  func expectFailure(
    _ message: String, variable: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
  ) {
    do {
      try body()
      Issue.record("expected '\(message)'", sourceLocation: sourceLocation)
    } catch let error as ConfigurationError {
      #expect(error.message == message, sourceLocation: sourceLocation)
      #expect(error.variable == variable, sourceLocation: sourceLocation)
    } catch {
      Issue.record("expected a ConfigurationError, got \(error)", sourceLocation: sourceLocation)
    }
  }

  @Test("strings: empty counts as unset")
  func strings() throws {
    let environment = ServiceEnvironment(["A": "x", "EMPTY": ""])
    #expect(environment.optionalString("A") == "x")
    #expect(environment.optionalString("EMPTY") == nil)
    #expect(environment.optionalString("MISSING") == nil)
    #expect(try environment.requiredString("A") == "x")
    expectFailure("EMPTY is required", variable: "EMPTY") { _ = try environment.requiredString("EMPTY") }
  }

  @Test("socket addresses")
  func addresses() throws {
    let environment = ServiceEnvironment(["L": "0.0.0.0:8080", "V6": "[::1]:9", "BAD": "8080"])
    #expect(try environment.socketAddress("L", default: "x") == SocketAddress(host: "0.0.0.0", port: 8080))
    #expect(try environment.socketAddress("V6", default: "x") == SocketAddress(host: "::1", port: 9))
    #expect(try environment.socketAddress("UNSET", default: "127.0.0.1:50051") == SocketAddress(host: "127.0.0.1", port: 50051))
    expectFailure("BAD must be host:port (e.g. 127.0.0.1:50051), got '8080'", variable: "BAD") {
      _ = try environment.socketAddress("BAD", default: "127.0.0.1:1")
    }
  }

  @Test("integers and durations within a range")
  func numbers() throws {
    let environment = ServiceEnvironment(["N": "8", "BIG": "300", "WORD": "ten", "S": "30"])
    #expect(try environment.integer("N", default: 1, in: 1...16) == 8)
    #expect(try environment.integer("UNSET", default: 4, in: 1...16) == 4)
    expectFailure("BIG must be a whole number between 1 and 16, got '300'", variable: "BIG") {
      _ = try environment.integer("BIG", default: 1, in: 1...16)
    }
    expectFailure("WORD must be a whole number between 1 and 16, got 'ten'", variable: "WORD") {
      _ = try environment.integer("WORD", default: 1, in: 1...16)
    }
    #expect(try environment.durationSeconds("S", default: .seconds(5), in: 1...60) == .seconds(30))
    #expect(try environment.durationSeconds("UNSET", default: .seconds(5), in: 1...60) == .seconds(5))
    expectFailure("BIG must be a whole number of seconds between 1 and 60, got '300'", variable: "BIG") {
      _ = try environment.durationSeconds("BIG", default: .seconds(5), in: 1...60)
    }
  }

  @Test("base64 keys: exact length, never echoed")
  func keys() throws {
    let key = (0..<32).map { UInt8($0) }
    let standard = Data(key).base64EncodedString()
    let urlSafe = standard.replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
    let short = Data(key.prefix(16)).base64EncodedString()
    let environment = ServiceEnvironment(["K": standard, "U": urlSafe, "SHORT": short, "JUNK": "not*base64"])
    #expect(try environment.base64Key("K", byteCount: 32) == key)
    #expect(try environment.base64Key("U", byteCount: 32) == key)
    expectFailure("MISSING is required: 32 random bytes as base64", variable: "MISSING") {
      _ = try environment.base64Key("MISSING", byteCount: 32)
    }
    expectFailure("SHORT must decode to exactly 32 bytes, got 16 (the value is not shown)", variable: "SHORT") {
      _ = try environment.base64Key("SHORT", byteCount: 32)
    }
    expectFailure("JUNK is not valid base64 (the value is not shown)", variable: "JUNK") {
      _ = try environment.base64Key("JUNK", byteCount: 32)
    }
  }

  @Test("the bearer credential is required and never echoed")
  func credential() throws {
    #expect(throws: Never.self) { try ServiceEnvironment(["HAYON_RPC_TOKEN": "abc"]).bearerCredential() }
    expectFailure("HAYON_RPC_TOKEN is required", variable: "HAYON_RPC_TOKEN") {
      _ = try ServiceEnvironment([:]).bearerCredential()
    }
    expectFailure(
      "HAYON_RPC_TOKEN must be printable ASCII without spaces (the value is not shown)", variable: "HAYON_RPC_TOKEN"
    ) {
      _ = try ServiceEnvironment(["HAYON_RPC_TOKEN": "my secret"]).bearerCredential()
    }
  }

  @Test("server TLS: both files or neither")
  func tls() throws {
    #expect(try ServiceEnvironment([:]).serverTLS(prefix: "X") == nil)
    let full = try ServiceEnvironment(["X_TLS_CERT": "c.pem", "X_TLS_KEY": "k.pem", "X_TLS_CLIENT_CA": "ca.pem"])
      .serverTLS(prefix: "X")
    #expect(full == TLSConfiguration(certificateChainPath: "c.pem", privateKeyPath: "k.pem", trustRootsPath: "ca.pem"))
    expectFailure("X_TLS_KEY is required with X_TLS_CERT", variable: "X_TLS_KEY") {
      _ = try ServiceEnvironment(["X_TLS_CERT": "c.pem"]).serverTLS(prefix: "X")
    }
    expectFailure("X_TLS_KEY is set but X_TLS_CERT is not; set both or neither", variable: "X_TLS_KEY") {
      _ = try ServiceEnvironment(["X_TLS_KEY": "k.pem"]).serverTLS(prefix: "X")
    }
  }

  @Test("the data directory is created when missing; a file in its place is refused")
  func dataDirectory() throws {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("hayon-runtime-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: base) }
    let wanted = base.appendingPathComponent("a/b").path
    let url = try ServiceEnvironment(["HAYON_DATA_DIR": wanted]).dataDirectory()
    #expect(url.path == wanted)
    var isDirectory: ObjCBool = false
    #expect(FileManager.default.fileExists(atPath: wanted, isDirectory: &isDirectory) && isDirectory.boolValue)
    // Existing: fine again.
    #expect(try ServiceEnvironment(["HAYON_DATA_DIR": wanted]).dataDirectory().path == wanted)

    let file = base.appendingPathComponent("file").path
    #expect(FileManager.default.createFile(atPath: file, contents: Data()))
    expectFailure("HAYON_DATA_DIR '\(file)' exists and is not a directory", variable: "HAYON_DATA_DIR") {
      _ = try ServiceEnvironment(["HAYON_DATA_DIR": file]).dataDirectory()
    }
  }

  @Test("quoted values are bounded and free of control characters")
  func quoting() {
    let environment = ServiceEnvironment(["L": "a\nb" + String(repeating: "x", count: 500)])
    expectFailure(
      "L must be host:port (e.g. 127.0.0.1:50051), got 'a?b\(String(repeating: "x", count: 117))…'", variable: "L"
    ) {
      _ = try environment.socketAddress("L", default: "127.0.0.1:1")
    }
  }
}
