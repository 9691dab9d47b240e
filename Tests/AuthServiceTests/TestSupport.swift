import Foundation
import HayonCrypto
import HayonRPC
import HayonStore
import Synchronization
import Testing

@testable import AuthService

/// A clock tests move by hand.
final class AdjustableClock: WallClock, Sendable {
  private let current: Mutex<Date>
  init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }
  var now: Date { current.withLock { $0 } }
  func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

func makeSealer(_ ids: [String] = ["k1"], current: String = "k1") throws -> Sealer {
  var keys: [String: [UInt8]] = [:]
  for id in ids { keys[id] = SecureRandom.bytes(32) }
  return try Sealer(keys: keys, current: current)
}

func makeMemoryStore() async throws -> SQLiteStore {
  try await SQLiteStore(.inMemory, schema: AuthStore.schema)
}
