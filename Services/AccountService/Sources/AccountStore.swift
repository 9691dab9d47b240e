import HayonAccount
import HayonModel
import HayonRPC
import HayonStore
import Synchronization

/// The SocialAccount documents in a `DocumentStore`: one document per user in
/// `social_accounts`, keyed by user id, written only through `modify`, which reads, changes and
/// writes back inside one transaction (and with the version it read), so concurrent changes to
/// one user are applied one after the other and none is lost.
///
/// Stored shape: `{"account": <SocialAccount>, "needsReconnection": bool, "reconnect_<platform>": bool, ...}`.
/// The flags are derived from `account` on every write and indexed, so listing the accounts that
/// need reconnection (for all platforms or one) is an index lookup, not a scan.
public struct AccountStore: Sendable {
  public static let collection = "social_accounts"
  static let anyPlatformField = "needsReconnection"
  static func field(for platform: Platform) -> String { "reconnect_\(platform.rawValue)" }

  public static let schema = StoreSchema(collections: [
    CollectionSchema(
      collection,
      indexing: [.bool(anyPlatformField)] + Platform.allCases.map { .bool(field(for: $0)) })
  ])

  public let store: any DocumentStore
  /// Documents read recently, so a read (the gateway asks for the document on every API
  /// request) is a dictionary lookup instead of a hop to the store's reader thread, a SQLite
  /// query and a JSON decode. Kept exact by `modify`, the only writer; shared by copies of this
  /// value. Every writer of the collection must be this store or a copy of it.
  private let cache: AccountReadCache

  /// `readCacheCapacity` bounds the cached documents (0 turns the cache off).
  public init(store: any DocumentStore, readCacheCapacity: Int = 10_000) {
    self.store = store
    self.cache = AccountReadCache(capacity: readCacheCapacity)
  }

  // Methods throw `RPCError` for what the caller did (a change refused, a bad page token) and
  // `StoreError` for the store's own failures; `rpcError(_:)` says how callers see those.

  /// The user's document, or the empty one if nothing was ever stored, with its JSON encoding,
  /// which the cache keeps beside it: GetAccount answers with those bytes instead of encoding the
  /// document per call.
  public func encodedAccount(userId: String) async throws -> EncodedAccount {
    let ticket: AccountReadCache.Ticket?
    switch cache.lookup(userId) {
    case .hit(let cached): return cached
    case .miss(let fillTicket): ticket = fillTicket
    }
    let account =
      try await store.get(StoredAccount.self, from: Self.collection, id: userId)?.value.account ?? .empty(userId: userId)
    let encoded = EncodedAccount(account: account, json: try JSONMessageCodec().encode(account))
    if let ticket { cache.fill(userId, encoded, ticket: ticket) }
    return encoded
  }

  /// Applies `change` to the user's current document (the empty one if none) in one transaction
  /// and returns the result as written. `change` throwing writes nothing.
  public func modify(
    userId: String, _ change: @escaping @Sendable (inout Accounts.SocialAccount) throws(RPCError) -> Void
  ) async throws -> Accounts.SocialAccount {
    // Bracketing the transaction: no read that overlaps it (whose result might predate the
    // commit) is cached, and the document is dropped from the cache.
    cache.writeStarted(userId)
    defer { cache.writeEnded(userId) }
    return try await store.transaction { transaction in
      let collection = Self.collection
      let existing = try transaction.get(StoredAccount.self, from: collection, id: userId)
      var account = existing?.value.account ?? .empty(userId: userId)
      try change(&account)
      let stored = StoredAccount(account: account.normalized)
      // The transaction already serialises writers; the version check keeps that true for a
      // store whose transactions do not.
      if let existing {
        try transaction.update(stored, in: collection, id: userId, expectedVersion: existing.version)
      } else {
        try transaction.insert(stored, into: collection, id: userId)
      }
      return stored.account
    }
  }

  /// Users with a connected platform needing reconnection (`platform` only, when given), by id.
  public func needingReconnection(
    platform: Platform?, limit: Int, after pageToken: String?
  ) async throws -> Page<Accounts.SocialAccount> {
    let field = platform.map(Self.field(for:)) ?? Self.anyPlatformField
    do {
      let page = try await store.query(
        StoredAccount.self, from: Self.collection, where: [Field(field) == true], orderBy: [Field.id.ascending],
        limit: limit, after: pageToken.map(PageCursor.init(token:)))
      return Page(items: page.items.map(\.value.account), next: page.next)
    } catch StoreError.invalidArgument {
      // The only argument a caller controls here is the page token.
      throw RPCError(.invalidArgument, "pageToken is not a valid page token")
    }
  }

  /// Failures as callers see them: a lock held too long may pass, anything else is ours. The
  /// store's own message stays in the log: callers need none of it.
  public static func rpcError(_ error: any Error) -> RPCError {
    switch error {
    case let error as RPCError: error
    case StoreError.busy: RPCError(.unavailable, "the account store is busy; retry")
    case StoreError.versionConflict: RPCError(.aborted, "the account changed during the update; retry")
    case is CancellationError: RPCError(.cancelled, "the call was cancelled")
    default: RPCError(.internal, "the account store failed")
    }
  }
}

/// A SocialAccount as stored, with its derived, indexed reconnection flags.
struct StoredAccount: Codable, Sendable {
  var account: Accounts.SocialAccount

  init(account: Accounts.SocialAccount) { self.account = account }

  private struct Key: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }

  init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: Key.self)
    // The flags are derived; only the document itself is read back. Normalising fills in any
    // platform added since the document was written.
    account = try container.decode(Accounts.SocialAccount.self, forKey: Key("account")).normalized
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: Key.self)
    try container.encode(account, forKey: Key("account"))
    var any = false
    for platform in Platform.allCases {
      let flag = account[platform].needsReconnection
      any = any || flag
      try container.encode(flag, forKey: Key(AccountStore.field(for: platform)))
    }
    try container.encode(any, forKey: Key(AccountStore.anyPlatformField))
  }
}

/// A document and its encoding by `JSONMessageCodec`.
public struct EncodedAccount: Sendable {
  public let account: Accounts.SocialAccount
  public let json: [UInt8]
}

/// The read cache behind `AccountStore.encodedAccount`: documents by user id, exact as long as every
/// write is bracketed by `writeStarted` and `writeEnded`.
///
/// A read that missed fills its result in only if no write was in flight when it looked and
/// none started or ended until it fills (the generation counts both), so a document read from
/// before a commit is never cached after it. Writes only drop documents: filling in a write's
/// own result could put an older write's document back when two writes to one user end in the
/// other order. Bounded: when full it starts over (a cold cache costs reads, never answers).
final class AccountReadCache: Sendable {
  struct Ticket: Sendable { fileprivate let generation: UInt64 }

  enum Lookup {
    case hit(EncodedAccount)
    /// With a ticket when the caller may fill in what it reads.
    case miss(Ticket?)
  }

  private struct State {
    var entries: [String: EncodedAccount] = [:]
    var generation: UInt64 = 0
    var writesInFlight = 0
  }

  private let state = Mutex(State())
  private let capacity: Int

  init(capacity: Int) { self.capacity = capacity }

  func lookup(_ userId: String) -> Lookup {
    guard capacity > 0 else { return .miss(nil) }
    return state.withLock { state in
      if let cached = state.entries[userId] { return .hit(cached) }
      return .miss(state.writesInFlight == 0 ? Ticket(generation: state.generation) : nil)
    }
  }

  func fill(_ userId: String, _ cached: EncodedAccount, ticket: Ticket) {
    state.withLock { state in
      guard state.writesInFlight == 0, state.generation == ticket.generation else { return }
      if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
      state.entries[userId] = cached
    }
  }

  func writeStarted(_ userId: String) {
    guard capacity > 0 else { return }
    state.withLock { state in
      state.writesInFlight += 1
      state.generation &+= 1
      state.entries[userId] = nil
    }
  }

  func writeEnded(_ userId: String) {
    guard capacity > 0 else { return }
    state.withLock { state in
      state.writesInFlight -= 1
      state.generation &+= 1
      state.entries[userId] = nil
    }
  }
}
