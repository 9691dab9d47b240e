import Foundation
import HayonRuntime
import Synchronization
import Testing

final class Lines: Sendable {
  private let state = Mutex<[String]>([])
  var sink: Logger.Sink { Logger.Sink { line in self.state.withLock { $0.append(line) } } }
  var all: [String] { state.withLock { $0 } }
}

@Suite("Logger")
struct LoggerTests {
  static let time = Date(timeIntervalSince1970: 1_796_000_000.25)

  func logger(_ lines: Lines, level: Logger.Level = .info) -> Logger {
    Logger(label: "svc", minimumLevel: level, sink: lines.sink, now: { Self.time })
  }

  @Test("one JSON object per line, keys sorted")
  func shape() throws {
    let lines = Lines()
    logger(lines).with(["userId": "u1"]).info("connected", ["platform": "bluesky"])
    #expect(lines.all == [
      #"{"time":"2026-11-30T00:53:20.250Z","level":"info","label":"svc","message":"connected","metadata":{"platform":"bluesky","userId":"u1"}}"#
    ])
    let object = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[0].utf8)) as? [String: Any])
    #expect(object["message"] as? String == "connected")
  }

  @Test("sensitive keys are redacted whatever their value", arguments: [
    "token", "accessToken", "refresh_token", "accessJwt", "Authorization", "password", "clientSecret",
    "code_verifier", "codeVerifier", "code-verifier", "X-API-TOKEN", "oauthTokenSecret",
  ])
  func redacted(key: String) {
    let lines = Lines()
    logger(lines).info("m", [key: "s3cr3t-value"])
    #expect(lines.all.count == 1)
    #expect(!lines.all[0].contains("s3cr3t-value"))
    #expect(lines.all[0].contains(#":"[redacted]""#))
  }

  @Test("ordinary keys are written as is", arguments: ["userId", "platform", "status", "address", "event"])
  func notRedacted(key: String) {
    let lines = Lines()
    logger(lines).info("m", [key: "value-1"])
    #expect(lines.all[0].contains(#""\#(key)":"value-1""#))
  }

  @Test("redaction also covers metadata attached with with(_:)")
  func redactedContext() {
    let lines = Lines()
    logger(lines).with(["sessionToken": "abc"]).warning("m")
    #expect(!lines.all[0].contains("abc"))
  }

  @Test("control characters and quotes cannot break a line")
  func escaping() throws {
    let lines = Lines()
    logger(lines).error("a\"b\nc\u{0}d\\", ["k": "line\r\n{\"forged\":1}"])
    #expect(lines.all.count == 1)
    #expect(!lines.all[0].contains("\n"))
    let object = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[0].utf8)) as? [String: Any])
    #expect(object["message"] as? String == "a\"b\nc\u{0}d\\")
    #expect((object["metadata"] as? [String: String])?["k"] == "line\r\n{\"forged\":1}")
  }

  @Test("levels below the minimum are dropped")
  func levels() {
    let lines = Lines()
    let log = logger(lines, level: .warning)
    log.debug("d")
    log.info("i")
    log.notice("n")
    log.warning("w")
    log.error("e")
    #expect(lines.all.map { $0.contains(#""level":"warning""#) || $0.contains(#""level":"error""#) } == [true, true])
    #expect(Logger.Level(name: "WARNING") == .warning)
    #expect(Logger.Level(name: "loud") == nil)
  }
}
