import Foundation
import HayonCrypto
import HayonModel
import HayonRPC
import HayonStore

/// Bluesky session tokens for one account, as the vault keeps them.
public struct BlueskyCredential: Codable, Sendable, Hashable, CustomStringConvertible {
  public var did: String
  public var handle: String
  /// The account's PDS, where every call for it goes.
  public var pdsUrl: String
  public var accessJwt: String
  public var refreshJwt: String
  /// The access JWT's `exp`, when it could be read.
  public var accessExpiresAt: Date?
  /// When auth-service last rotated the session (nil: not since sign-in).
  public var refreshedAt: Date?

  public init(
    did: String, handle: String, pdsUrl: String, accessJwt: String, refreshJwt: String, accessExpiresAt: Date?,
    refreshedAt: Date? = nil
  ) {
    self.did = did
    self.handle = handle
    self.pdsUrl = pdsUrl
    self.accessJwt = accessJwt
    self.refreshJwt = refreshJwt
    self.accessExpiresAt = accessExpiresAt
    self.refreshedAt = refreshedAt
  }

  public var description: String { "BlueskyCredential(did: \(did), pds: \(pdsUrl), tokens redacted)" }
}

/// A Mastodon access token (they do not expire) and what is needed to use and revoke it.
public struct MastodonCredential: Codable, Sendable, Hashable, CustomStringConvertible {
  /// Normalised instance URL (`https://mastodon.social`).
  public var instanceUrl: String
  public var accountId: String
  public var accessToken: String

  public init(instanceUrl: String, accountId: String, accessToken: String) {
    self.instanceUrl = instanceUrl
    self.accountId = accountId
    self.accessToken = accessToken
  }

  public var description: String { "MastodonCredential(instance: \(instanceUrl), account: \(accountId), token redacted)" }
}

/// One platform's credentials. A case per platform with a flow; the other four join here.
public enum PlatformCredential: Codable, Sendable, Hashable, CustomStringConvertible {
  case bluesky(BlueskyCredential)
  case mastodon(MastodonCredential)

  public var platform: Platform {
    switch self {
    case .bluesky: .bluesky
    case .mastodon: .mastodon
    }
  }

  /// The account on the platform the credential belongs to (not secret): two Hayon users may
  /// connect the same platform account, and some platforms then hand both the same token.
  var platformAccount: String {
    switch self {
    case .bluesky(let credential): "bluesky|\(credential.did)"
    case .mastodon(let credential): "mastodon|\(credential.instanceUrl)|\(credential.accountId)"
    }
  }

  public var description: String {
    switch self {
    case .bluesky(let credential): credential.description
    case .mastodon(let credential): credential.description
    }
  }
}

/// The stored form: the credential JSON sealed with AES-256-GCM, bound to its owner.
struct VaultEntry: Codable, Sendable {
  var userId: String
  var platform: String
  /// The key the envelope was sealed with (also inside the envelope); indexed, to find entries
  /// still under a retired key.
  var keyId: String
  var sealed: String
  var updatedAt: Date
  /// `PlatformCredential.platformAccount`, indexed so a disconnect can tell whether another
  /// user still relies on the same platform account.
  var platformAccount: String?
}

/// A credential as read, with the version to write back against.
public struct VaultRecord: Sendable {
  public var credential: PlatformCredential
  public var version: Int64
}

/// Per user and platform credentials, sealed at rest. Every write seals under the current key;
/// a read of an entry sealed under an older key re-seals it. An entry that fails authentication
/// (altered bytes, moved to another user, unknown key) is refused, never opened into garbage.
public struct TokenVault: Sendable {
  let store: any DocumentStore
  let sealer: Sealer
  let clock: any WallClock

  public init(store: any DocumentStore, sealer: Sealer, clock: any WallClock) {
    self.store = store
    self.sealer = sealer
    self.clock = clock
  }

  static func documentID(userId: String, platform: Platform) -> String { "\(userId):\(platform.rawValue)" }

  /// The associated data binding an envelope to its owner, so an entry copied onto another
  /// user's or platform's row does not open.
  static func associatedData(userId: String, platform: Platform) -> String {
    "hayon.vault.v1|\(userId)|\(platform.rawValue)"
  }

  public func read(userId: String, platform: Platform) async throws(RPCError) -> VaultRecord? {
    let id = Self.documentID(userId: userId, platform: platform)
    let stored: Stored<VaultEntry>?
    do {
      stored = try await store.get(VaultEntry.self, from: AuthStore.vault, id: id)
    } catch {
      throw ConnectionErrors.storage(error)
    }
    guard let stored else { return nil }
    let credential = try open(stored.value, userId: userId, platform: platform)
    var version = stored.version
    if stored.value.keyId != sealer.currentKeyID {
      // Rotate forward on read; losing the race to a concurrent writer is fine (it sealed under
      // the current key too).
      if let rewritten = try? await write(credential, userId: userId, expectedVersion: stored.version) {
        version = rewritten
      }
    }
    return VaultRecord(credential: credential, version: version)
  }

  /// Stores `credential` for the user, replacing whatever was there.
  @discardableResult
  public func put(_ credential: PlatformCredential, userId: String) async throws(RPCError) -> Int64 {
    let entry = try seal(credential, userId: userId)
    do {
      return try await store.put(entry, in: AuthStore.vault, id: Self.documentID(userId: userId, platform: credential.platform)).version
    } catch {
      throw ConnectionErrors.storage(error)
    }
  }

  /// Replaces the credential only if it is still at `expectedVersion` (both rotated tokens in one
  /// write). Throws `StoreError.versionConflict` / `.notFound` as is, so callers can tell a lost
  /// race from a failure.
  @discardableResult
  public func write(_ credential: PlatformCredential, userId: String, expectedVersion: Int64) async throws -> Int64 {
    let entry = try seal(credential, userId: userId)
    return try await store.update(
      entry, in: AuthStore.vault, id: Self.documentID(userId: userId, platform: credential.platform),
      expectedVersion: expectedVersion
    ).version
  }

  /// Whether a user other than `userId` holds credentials for the same platform account.
  public func isShared(_ credential: PlatformCredential, except userId: String) async throws(RPCError) -> Bool {
    do {
      let holders = try await store.query(
        AuthStore.vault, where: [Field("platformAccount") == .string(credential.platformAccount)], orderBy: [], limit: 2)
      return holders.items.contains { $0.id != Self.documentID(userId: userId, platform: credential.platform) }
    } catch {
      throw ConnectionErrors.storage(error)
    }
  }

  /// Forgets the credential; `false` if there was none.
  @discardableResult
  public func delete(userId: String, platform: Platform) async throws(RPCError) -> Bool {
    do {
      return try await store.delete(AuthStore.vault, id: Self.documentID(userId: userId, platform: platform))
    } catch {
      throw ConnectionErrors.storage(error)
    }
  }

  func seal(_ credential: PlatformCredential, userId: String) throws(RPCError) -> VaultEntry {
    let platform = credential.platform
    do {
      let json = String(decoding: try JSONEncoder().encode(credential), as: UTF8.self)
      let sealed = try sealer.sealText(json, associatedData: Self.associatedData(userId: userId, platform: platform))
      return VaultEntry(
        userId: userId, platform: platform.rawValue, keyId: sealer.currentKeyID, sealed: sealed, updatedAt: clock.now,
        platformAccount: credential.platformAccount)
    } catch {
      throw RPCError(.internal, "could not seal the \(platform.displayName) credentials")
    }
  }

  func open(_ entry: VaultEntry, userId: String, platform: Platform) throws(RPCError) -> PlatformCredential {
    guard entry.userId == userId, entry.platform == platform.rawValue,
      let json = try? sealer.openText(entry.sealed, associatedData: Self.associatedData(userId: userId, platform: platform)),
      let credential = try? JSONDecoder().decode(PlatformCredential.self, from: Data(json.utf8)),
      credential.platform == platform
    else {
      throw ConnectionErrors.vaultUnreadable(platform)
    }
    return credential
  }
}
