import Foundation
import HayonHTTP2
import HayonModel
import HayonRPC

/// A configuration variable that is missing or malformed. The message names the variable and
/// says what it must be; it quotes the value only for variables that are not secrets.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
  public let variable: String
  public let message: String

  public init(_ variable: String, _ message: String) {
    self.variable = variable
    self.message = message
  }

  public var description: String { message }
}

/// Typed reads of an executable's environment variables. Only executables use it, in one place
/// at start-up (library code never reads the environment): they pass
/// `ProcessInfo.processInfo.environment` to `load`, which turns the first bad variable into one
/// clear line on stderr and exit status 2.
///
///     let settings = ServiceEnvironment.load(program: "account-service", ProcessInfo.processInfo.environment) { env in
///       try Settings(listen: env.socketAddress("ACCOUNT_SERVICE_LISTEN", default: "127.0.0.1:50051"), ...)
///     }
///
/// A variable set to the empty string counts as unset.
public struct ServiceEnvironment: Sendable {
  public let values: [String: String]

  public init(_ values: [String: String]) { self.values = values }

  /// Runs `body` over `values`; on a `ConfigurationError` prints `program: message` to stderr and
  /// exits with status 2.
  public static func load<Settings>(
    program: String, _ values: [String: String], _ body: (ServiceEnvironment) throws(ConfigurationError) -> Settings
  ) -> Settings {
    do {
      return try body(ServiceEnvironment(values))
    } catch {
      exitWithConfigurationError(program: program, error.message)
    }
  }

  /// The one way an executable stops over bad configuration: a line on stderr, status 2.
  public static func exitWithConfigurationError(program: String, _ message: String) -> Never {
    FileHandle.standardError.write(Data("\(program): \(message)\n".utf8))
    exit(2)
  }

  // MARK: Strings

  public func optionalString(_ name: String) -> String? {
    guard let value = values[name], !value.isEmpty else { return nil }
    return value
  }

  /// The only failure is absence, so the message never involves the value: safe for secrets.
  public func requiredString(_ name: String) throws(ConfigurationError) -> String {
    guard let value = optionalString(name) else { throw ConfigurationError(name, "\(name) is required") }
    return value
  }

  // MARK: Typed values

  /// `host:port` (`[v6]:port` for IPv6). Port 0 asks the system for a free one.
  public func socketAddress(_ name: String, default defaultValue: String) throws(ConfigurationError) -> SocketAddress {
    let text = optionalString(name) ?? defaultValue
    guard let address = SocketAddress(parsing: text) else {
      throw ConfigurationError(name, "\(name) must be host:port (e.g. 127.0.0.1:50051), got '\(Self.quoted(text))'")
    }
    return address
  }

  /// A whole number within `range` (whose lower bound should be at least 1 for counts).
  public func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
    guard let text = optionalString(name) else { return defaultValue }
    guard let value = Int(text), range.contains(value) else {
      throw ConfigurationError(
        name, "\(name) must be a whole number between \(range.lowerBound) and \(range.upperBound), got '\(Self.quoted(text))'")
    }
    return value
  }

  /// A duration given as whole seconds within `range`.
  public func durationSeconds(
    _ name: String, default defaultValue: Duration, in range: ClosedRange<Int>
  ) throws(ConfigurationError) -> Duration {
    guard let text = optionalString(name) else { return defaultValue }
    guard let seconds = Int(text), range.contains(seconds) else {
      throw ConfigurationError(
        name, "\(name) must be a whole number of seconds between \(range.lowerBound) and \(range.upperBound), got '\(Self.quoted(text))'")
    }
    return .seconds(seconds)
  }

  /// A secret key of exactly `byteCount` bytes, as standard or URL-safe base64 (padding
  /// optional). Messages never show the value.
  public func base64Key(_ name: String, byteCount: Int) throws(ConfigurationError) -> [UInt8] {
    guard let text = optionalString(name) else {
      throw ConfigurationError(name, "\(name) is required: \(byteCount) random bytes as base64")
    }
    guard let bytes = Self.decodeBase64(text) else {
      throw ConfigurationError(name, "\(name) is not valid base64 (the value is not shown)")
    }
    guard bytes.count == byteCount else {
      throw ConfigurationError(name, "\(name) must decode to exactly \(byteCount) bytes, got \(bytes.count) (the value is not shown)")
    }
    return bytes
  }

  /// The internal bearer credential (`HAYON_RPC_TOKEN`), required. The message never shows it.
  public func bearerCredential(_ name: String = "HAYON_RPC_TOKEN") throws(ConfigurationError) -> BearerCredential {
    guard let token = optionalString(name) else { throw ConfigurationError(name, "\(name) is required") }
    guard let credential = BearerCredential(token: token) else {
      throw ConfigurationError(name, "\(name) must be printable ASCII without spaces (the value is not shown)")
    }
    return credential
  }

  /// TLS for a server from `<prefix>_TLS_CERT` and `<prefix>_TLS_KEY` (PEM files), plus
  /// `<prefix>_TLS_CLIENT_CA` to require client certificates; `nil` when no certificate is set.
  public func serverTLS(prefix: String) throws(ConfigurationError) -> TLSConfiguration? {
    let certificateName = "\(prefix)_TLS_CERT"
    let keyName = "\(prefix)_TLS_KEY"
    guard let certificate = optionalString(certificateName) else {
      if optionalString(keyName) != nil {
        throw ConfigurationError(keyName, "\(keyName) is set but \(certificateName) is not; set both or neither")
      }
      return nil
    }
    guard let key = optionalString(keyName) else {
      throw ConfigurationError(keyName, "\(keyName) is required with \(certificateName)")
    }
    return TLSConfiguration(
      certificateChainPath: certificate, privateKeyPath: key, trustRootsPath: optionalString("\(prefix)_TLS_CLIENT_CA"))
  }

  /// `HAYON_DATA_DIR` (default `./data`), created if missing.
  public func dataDirectory(_ name: String = "HAYON_DATA_DIR", default defaultPath: String = "./data") throws(ConfigurationError) -> URL {
    let path = optionalString(name) ?? defaultPath
    let url = URL(fileURLWithPath: path, isDirectory: true)
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else {
        throw ConfigurationError(name, "\(name) '\(Self.quoted(path))' exists and is not a directory")
      }
      return url
    }
    do {
      try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    } catch {
      throw ConfigurationError(name, "\(name) '\(Self.quoted(path))' does not exist and cannot be created")
    }
    return url
  }

  /// A comma-separated list (`a, b,c`), trimmed, empty entries dropped; empty when unset.
  public func list(_ name: String) -> [String] {
    (optionalString(name) ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
  }

  /// The log level every executable reads from `HAYON_LOG_LEVEL` (default info).
  public func logLevel(_ name: String = "HAYON_LOG_LEVEL") throws(ConfigurationError) -> Logger.Level {
    guard let text = optionalString(name) else { return .info }
    guard let level = Logger.Level(name: text) else {
      throw ConfigurationError(name, "\(name) must be one of \(Logger.Level.allCases.map(\.name).joined(separator: ", "))")
    }
    return level
  }

  /// A host:port of another Hayon service, as an RPC client configuration carrying the
  /// internal credential.
  public func rpcTarget(_ name: String, default defaultValue: String, credential: BearerCredential) throws(ConfigurationError)
    -> RPCClient.Configuration
  {
    RPCClient.Configuration(target: try socketAddress(name, default: defaultValue), credential: credential)
  }

  // MARK: Helpers

  /// Non-secret values in messages: bounded, control characters replaced.
  static func quoted(_ text: String) -> String { quotedForMessage(text, limit: 120) }

  static func decodeBase64(_ text: String) -> [UInt8]? {
    var standard = text.replacing("-", with: "+").replacing("_", with: "/")
    guard !standard.contains("=") || standard.hasSuffix("=") else { return nil }
    standard = standard.replacing("=", with: "")
    guard standard.count % 4 != 1 else { return nil }
    standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
    return Data(base64Encoded: standard).map(Array.init)
  }
}
