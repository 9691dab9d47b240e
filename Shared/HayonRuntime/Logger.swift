import Foundation

/// Structured logging: one JSON object per line, by default to stderr (stdout is kept for the
/// `listening on` line that scripts and tests wait for).
///
///     {"time":"2026-12-04T05:00:00.123Z","level":"info","label":"account-service","message":"started","metadata":{"port":"50051"}}
///
/// Secrets never reach the output: any metadata key containing `token`, `password`, `secret`,
/// `authorization`, `jwt` or `code_verifier` (case-insensitively; `accessJwt`, `refresh_token`,
/// `Authorization` all count) is written as `[redacted]`, whatever its value. Messages are free
/// text and are not scanned: put values in metadata, never interpolate them into the message.
///
/// A value type: `with(_:)` returns a logger carrying more metadata, for a request or a task.
public struct Logger: Sendable {
  public enum Level: Int, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    case debug, info, notice, warning, error

    public var name: String {
      switch self {
      case .debug: "debug"
      case .info: "info"
      case .notice: "notice"
      case .warning: "warning"
      case .error: "error"
      }
    }

    public init?(name: String) {
      guard let level = Self.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
      self = level
    }

    public var description: String { name }
    public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
  }

  /// Where finished lines go. `standardError` in services; tests collect lines instead.
  public struct Sink: Sendable {
    public let write: @Sendable (String) -> Void

    public init(_ write: @escaping @Sendable (String) -> Void) { self.write = write }

    /// Each line in one `write(2)`, so concurrent lines never interleave.
    public static let standardError = Sink { line in
      FileHandle.standardError.write(Data((line + "\n").utf8))
    }
  }

  /// What a sensitive value is written as.
  public static let redacted = "[redacted]"
  /// Key fragments that mark a metadata value as a secret.
  public static let sensitiveKeyFragments = ["token", "password", "secret", "authorization", "jwt", "code_verifier"]

  public let label: String
  public private(set) var metadata: [String: String]
  public var minimumLevel: Level
  private let sink: Sink
  private let now: @Sendable () -> Date

  /// `now` stamps each line; tests pass a fixed one.
  public init(
    label: String, metadata: [String: String] = [:], minimumLevel: Level = .info, sink: Sink = .standardError,
    now: @escaping @Sendable () -> Date = { Date() }
  ) {
    self.label = label
    self.metadata = metadata
    self.minimumLevel = minimumLevel
    self.sink = sink
    self.now = now
  }

  /// This logger with `extra` metadata added (replacing keys it already has).
  public func with(_ extra: [String: String]) -> Logger {
    var copy = self
    copy.metadata.merge(extra) { _, new in new }
    return copy
  }

  public func log(_ level: Level, _ message: String, _ extra: [String: String] = [:]) {
    guard level >= minimumLevel else { return }
    let merged = extra.isEmpty ? metadata : metadata.merging(extra) { _, new in new }
    sink.write(Self.line(time: now(), level: level, label: label, message: message, metadata: merged))
  }

  public func debug(_ message: String, _ extra: [String: String] = [:]) { log(.debug, message, extra) }
  public func info(_ message: String, _ extra: [String: String] = [:]) { log(.info, message, extra) }
  public func notice(_ message: String, _ extra: [String: String] = [:]) { log(.notice, message, extra) }
  public func warning(_ message: String, _ extra: [String: String] = [:]) { log(.warning, message, extra) }
  public func error(_ message: String, _ extra: [String: String] = [:]) { log(.error, message, extra) }

  /// Whether values under `key` are written as `[redacted]`.
  public static func isSensitive(key: String) -> Bool {
    let lowered = key.lowercased()
    // `codeVerifier` and `code-verifier` are the same secret as `code_verifier`.
    let folded = lowered.replacing("-", with: "_")
    return sensitiveKeyFragments.contains { lowered.contains($0) || folded.contains($0) }
      || folded.contains("codeverifier")
  }

  /// One finished line (without the newline). Keys are sorted, so lines are reproducible.
  static func line(time: Date, level: Level, label: String, message: String, metadata: [String: String]) -> String {
    var line = "{\"time\":"
    appendJSONString(time.formatted(Self.timeFormat), to: &line)
    line += ",\"level\":"
    appendJSONString(level.name, to: &line)
    line += ",\"label\":"
    appendJSONString(label, to: &line)
    line += ",\"message\":"
    appendJSONString(message, to: &line)
    if !metadata.isEmpty {
      line += ",\"metadata\":{"
      for (index, key) in metadata.keys.sorted().enumerated() {
        if index > 0 { line += "," }
        appendJSONString(key, to: &line)
        line += ":"
        appendJSONString(isSensitive(key: key) ? redacted : metadata[key] ?? "", to: &line)
      }
      line += "}"
    }
    line += "}"
    return line
  }

  private static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

  /// JSON string escaping: quotes, backslashes and every control character, so a value can never
  /// break out of its line or forge another entry.
  static func appendJSONString(_ text: String, to output: inout String) {
    output.append("\"")
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": output.append("\\\"")
      case "\\": output.append("\\\\")
      case "\n": output.append("\\n")
      case "\r": output.append("\\r")
      case "\t": output.append("\\t")
      case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029:
        output.append("\\u")
        let hex = String(scalar.value, radix: 16)
        output.append(String(repeating: "0", count: 4 - hex.count) + hex)
      default: output.unicodeScalars.append(scalar)
      }
    }
    output.append("\"")
  }
}
