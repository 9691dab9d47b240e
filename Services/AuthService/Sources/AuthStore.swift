import HayonStore

/// auth-service's own database: the token vault, pending OAuth flows and the per-instance
/// Mastodon app registrations. (Users and sessions from `AuthUsers` declare their own collections
/// and are merged in by the executable.)
public enum AuthStore {
  public static let vault = "vault"
  public static let pendingFlows = "pending_flows"
  public static let mastodonApps = "mastodon_apps"

  public static let collections: [CollectionSchema] = [
    CollectionSchema(vault, indexing: [.string("userId"), .string("platform"), .string("keyId"), .string("platformAccount")]),
    CollectionSchema(pendingFlows, indexing: [.bool("consumed"), .date("expiresAt")]),
    CollectionSchema(mastodonApps, indexing: [.string("redirectUri")]),
  ]

  /// The schema of a store holding only the connection data (tests, or a deployment that keeps
  /// users elsewhere).
  public static var schema: StoreSchema { StoreSchema(collections: collections) }
}
