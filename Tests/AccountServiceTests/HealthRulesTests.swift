import AccountService
import HayonAccount
import HayonModel
import Testing

@Suite("Health rule table")
struct HealthRulesTests {
  static let earlier = Timestamp(millisecondsSince1970: 1_700_000_000_000)
  static let now = Timestamp(millisecondsSince1970: 1_700_000_360_000)

  static func health(
    _ status: Accounts.ConnectionStatus, needsReconnection: Bool = false, lastError: String? = nil,
    failures: Int = 0, refreshed: Timestamp? = earlier, updatedAt: Timestamp = earlier
  ) -> Accounts.PlatformHealth {
    Accounts.PlatformHealth(
      status: status, needsReconnection: needsReconnection, lastError: lastError, lastSuccessfulRefresh: refreshed,
      consecutiveFailures: failures, updatedAt: updatedAt)
  }

  struct Row: Sendable, CustomTestStringConvertible {
    var name: String
    var event: Accounts.HealthEvent
    var before: Accounts.PlatformHealth
    var after: Accounts.PlatformHealth
    var testDescription: String { name }
  }

  static let rows: [Row] = [
    Row(
      name: "success on a healthy connection refreshes it", event: .success,
      before: health(.active),
      after: health(.active, refreshed: now, updatedAt: now)),
    Row(
      name: "success clears failures, error, reconnection and status", event: .success,
      before: health(.error, needsReconnection: true, lastError: "HTTP 503", failures: 7),
      after: health(.active, refreshed: now, updatedAt: now)),
    Row(
      name: "success after revocation makes it active again", event: .success,
      before: health(.revoked, needsReconnection: true, failures: 1),
      after: health(.active, refreshed: now, updatedAt: now)),
    Row(
      name: "authExpired needs reconnection", event: .authExpired,
      before: health(.active),
      after: health(.expired, needsReconnection: true, failures: 1, updatedAt: now)),
    Row(
      name: "authExpired keeps the last error", event: .authExpired,
      before: health(.error, lastError: "HTTP 500", failures: 3),
      after: health(.expired, needsReconnection: true, lastError: "HTTP 500", failures: 4, updatedAt: now)),
    Row(
      name: "authRevoked needs reconnection", event: .authRevoked,
      before: health(.active),
      after: health(.revoked, needsReconnection: true, failures: 1, updatedAt: now)),
    Row(
      name: "authRevoked after expiry", event: .authRevoked,
      before: health(.expired, needsReconnection: true, failures: 1),
      after: health(.revoked, needsReconnection: true, failures: 2, updatedAt: now)),
    Row(
      name: "first error stays active", event: .error(message: "HTTP 503 from the PDS"),
      before: health(.active),
      after: health(.active, lastError: "HTTP 503 from the PDS", failures: 1, updatedAt: now)),
    Row(
      name: "second error stays active", event: .error(message: "timeout"),
      before: health(.active, lastError: "HTTP 503", failures: 1),
      after: health(.active, lastError: "timeout", failures: 2, updatedAt: now)),
    Row(
      name: "third error reaches the threshold", event: .error(message: "timeout"),
      before: health(.active, lastError: "timeout", failures: 2),
      after: health(.error, lastError: "timeout", failures: 3, updatedAt: now)),
    Row(
      name: "errors past the threshold stay error", event: .error(message: "reset"),
      before: health(.error, lastError: "timeout", failures: 5),
      after: health(.error, lastError: "reset", failures: 6, updatedAt: now)),
    Row(
      name: "error keeps needsReconnection and the expired status", event: .error(message: "HTTP 500"),
      before: health(.expired, needsReconnection: true, failures: 4),
      after: health(.expired, needsReconnection: true, lastError: "HTTP 500", failures: 5, updatedAt: now)),
    Row(
      name: "error keeps the revoked status", event: .error(message: "HTTP 500"),
      before: health(.revoked, needsReconnection: true, failures: 2),
      after: health(.revoked, needsReconnection: true, lastError: "HTTP 500", failures: 3, updatedAt: now)),
    Row(
      name: "error message is flattened to one line", event: .error(message: "  line one\nline two\t "),
      before: health(.active),
      after: health(.active, lastError: "line one line two", failures: 1, updatedAt: now)),
  ]

  @Test("each row", arguments: rows)
  func row(_ row: Row) {
    #expect(HealthRules().apply(row.event, to: row.before, at: Self.now) == row.after)
  }

  @Test("the threshold is configurable")
  func threshold() {
    let rules = HealthRules(errorThreshold: 1)
    let after = rules.apply(.error(message: "x"), to: Self.health(.active), at: Self.now)
    #expect(after.status == .error)
    #expect(after.consecutiveFailures == 1)
  }

  @Test("lastError is bounded")
  func boundedError() {
    let rules = HealthRules()
    let after = rules.apply(.error(message: String(repeating: "é", count: 1_999)), to: Self.health(.active), at: Self.now)
    #expect(after.lastError?.count == Accounts.Limits.storedErrorLength)
    #expect(after.lastError?.hasSuffix("…") == true)
  }

  @Test("the failure count never overflows")
  func saturates() {
    let after = HealthRules().apply(.authExpired, to: Self.health(.expired, failures: Int.max), at: Self.now)
    #expect(after.consecutiveFailures == Int.max)
  }
}
