import Foundation
import HayonCrypto
import HayonModel
import HayonPlatforms
import HayonRPC
import HayonStore

/// Hayon's app registration on each Mastodon instance, made once (`POST /api/v1/apps`) and
/// reused for every user of that instance. Persisted with the client secret sealed; keyed by the
/// instance and the redirect URI, since a new callback URL needs a new registration.
struct MastodonAppRegistry: Sendable {
  struct Entry: Codable, Sendable {
    var instanceUrl: String
    var redirectUri: String
    var clientId: String
    var sealedSecret: String
    var scopes: String
    var createdAt: Date
  }

  let store: any DocumentStore
  let sealer: Sealer
  let client: MastodonClient
  let clock: any WallClock

  static func documentID(instance: URL, redirectUri: String) -> String {
    Base64URL.encode(Digest.hash(Array("\(instance.absoluteString)|\(redirectUri)".utf8), using: .sha256))
  }

  static func associatedData(_ id: String) -> String { "hayon.mastodon-app.v1|\(id)" }

  /// The cached registration, or nil.
  func cached(instance: URL, redirectUri: String) async throws(RPCError) -> MastodonApp? {
    let id = Self.documentID(instance: instance, redirectUri: redirectUri)
    let stored: Stored<Entry>?
    do {
      stored = try await store.get(Entry.self, from: AuthStore.mastodonApps, id: id)
    } catch {
      throw ConnectionErrors.storage(error)
    }
    guard let entry = stored?.value,
      let secret = try? sealer.openText(entry.sealedSecret, associatedData: Self.associatedData(id))
    else { return nil }
    return MastodonApp(clientId: entry.clientId, clientSecret: secret, redirectUri: entry.redirectUri, scopes: entry.scopes)
  }

  /// The registration for `instance`, registering first when there is none or when the
  /// instance no longer knows the cached one (an admin removed it, or the instance was reset):
  /// otherwise its sign-in page would refuse everyone and no callback would ever tell us.
  func app(for instance: URL, redirectUri: String, clientName: String, website: String?) async throws(RPCError) -> MastodonApp {
    if let app = try await cached(instance: instance, redirectUri: redirectUri) {
      // A check that fails for another reason keeps the registration (the instance may be busy).
      let known = (try? await client.appIsRegistered(instance: instance, app: app)) ?? true
      if known { return app }
      await forget(instance: instance, redirectUri: redirectUri)
    }
    let app: MastodonApp
    do {
      app = try await client.registerApp(instance: instance, clientName: clientName, redirectUri: redirectUri, website: website)
    } catch {
      throw ConnectionErrors.fromPlatform(error, doing: "registering Hayon with the instance")
    }
    let id = Self.documentID(instance: instance, redirectUri: redirectUri)
    do {
      let entry = Entry(
        instanceUrl: instance.absoluteString, redirectUri: redirectUri, clientId: app.clientId,
        sealedSecret: try sealer.sealText(app.clientSecret, associatedData: Self.associatedData(id)), scopes: app.scopes,
        createdAt: clock.now)
      try await store.put(entry, in: AuthStore.mastodonApps, id: id)
    } catch {
      throw ConnectionErrors.storage(error)
    }
    return app
  }

  /// Forgets a registration the instance no longer honours (`invalid_client`), so the next
  /// connect registers again.
  func forget(instance: URL, redirectUri: String) async {
    _ = try? await store.delete(AuthStore.mastodonApps, id: Self.documentID(instance: instance, redirectUri: redirectUri))
  }
}
