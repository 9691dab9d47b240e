public import Foundation
import HayonCrypto
import HayonModel

/// A session as `createSession` / `refreshSession` return it (platforms.md §1.2–1.3).
public struct BlueskySession: Sendable, Hashable, CustomStringConvertible {
  public var did: String
  public var handle: String
  public var accessJwt: String
  public var refreshJwt: String
  /// The account's own PDS when the DID document names one (`#atproto_pds`).
  public var pdsUrl: String?
  /// Read from the access JWT's `exp`.
  public var accessExpiresAt: Date?

  public var description: String { "BlueskySession(did: \(did), handle: \(handle), tokens redacted)" }
}

public struct BlueskyProfile: Sendable, Hashable {
  public var did: String
  public var handle: String
  public var displayName: String?
  public var avatar: String?
}

/// The XRPC calls auth-service makes for a Bluesky account. Stateless: every call names the PDS.
public struct BlueskyClient: Sendable {
  let http: any PlatformHTTPClient
  let clock: any WallClock

  public init(http: any PlatformHTTPClient, clock: any WallClock) {
    self.http = http
    self.clock = clock
  }

  struct CreateSessionBody: Encodable {
    var identifier: String
    var password: String
  }

  struct SessionBody: Decodable {
    var did: String
    var handle: String
    var accessJwt: String
    var refreshJwt: String
    var didDoc: DIDDocument?
  }

  struct DIDDocument: Decodable {
    struct Service: Decodable {
      var id: String?
      var type: String?
      var serviceEndpoint: String?
    }
    var service: [Service]?

    var pdsEndpoint: String? {
      service?.first { ($0.id?.hasSuffix("#atproto_pds") ?? false) || $0.type == "AtprotoPersonalDataServer" }?.serviceEndpoint
    }
  }

  struct ProfileBody: Decodable {
    var did: String
    var handle: String
    var displayName: String?
    var avatar: String?
  }

  /// `com.atproto.server.createSession`. Throws `PlatformError` (wrong password → rejected with
  /// name `AuthenticationRequired`; `AuthFactorTokenRequired`; rate limited).
  public func createSession(pds: URL, identifier: String, password: String) async throws(PlatformError) -> BlueskySession {
    let request: PlatformHTTPRequest
    do {
      request = try .json("POST", endpoint(pds, "com.atproto.server.createSession"),
        body: CreateSessionBody(identifier: identifier, password: password))
    } catch {
      throw PlatformError(platform: .bluesky, classification: .rejected, status: nil, name: nil, message: "could not encode the request")
    }
    return try await session(from: send(request, token: .none))
  }

  /// `com.atproto.server.refreshSession` with the refresh JWT as bearer: both tokens rotate.
  public func refreshSession(pds: URL, refreshJwt: String) async throws(PlatformError) -> BlueskySession {
    let request = PlatformHTTPRequest(
      method: "POST", url: endpoint(pds, "com.atproto.server.refreshSession"),
      headers: [("Authorization", "Bearer \(refreshJwt)")])
    return try await session(from: send(request, token: .refresh))
  }

  /// `com.atproto.server.deleteSession` with the refresh JWT: ends the session at the PDS.
  public func deleteSession(pds: URL, refreshJwt: String) async throws(PlatformError) {
    let request = PlatformHTTPRequest(
      method: "POST", url: endpoint(pds, "com.atproto.server.deleteSession"),
      headers: [("Authorization", "Bearer \(refreshJwt)")])
    _ = try await send(request, token: .refresh)
  }

  /// `app.bsky.actor.getProfile?actor=`.
  public func getProfile(pds: URL, accessJwt: String, actor: String) async throws(PlatformError) -> BlueskyProfile {
    var components = URLComponents(url: endpoint(pds, "app.bsky.actor.getProfile"), resolvingAgainstBaseURL: false)!
    components.percentEncodedQueryItems = [URLQueryItem(name: "actor", value: FormEncoding.percentEncode(actor))]
    let request = PlatformHTTPRequest(
      method: "GET", url: components.url!, headers: [("Authorization", "Bearer \(accessJwt)")])
    let response = try await send(request, token: .access)
    guard let body = try? JSONDecoder().decode(ProfileBody.self, from: response.body) else {
      throw malformed("getProfile")
    }
    return BlueskyProfile(did: body.did, handle: body.handle, displayName: body.displayName, avatar: body.avatar)
  }

  func endpoint(_ pds: URL, _ nsid: String) -> URL {
    pds.appendingPathComponent("xrpc").appendingPathComponent(nsid)
  }

  func send(_ request: PlatformHTTPRequest, token: BlueskyErrors.TokenUse) async throws(PlatformError) -> PlatformHTTPResponse {
    let response: PlatformHTTPResponse
    do {
      response = try await http.send(request)
    } catch {
      // Session calls are safe to repeat (a lost createSession at worst leaves an unused session);
      // a create-post call is not, and says so.
      throw PlatformError(platform: .bluesky, transport: error, requestWasIdempotent: !request.mustNotRepeat)
    }
    guard response.isSuccess else { throw BlueskyErrors.classify(response, token: token, now: clock.now) }
    return response
  }

  func session(from response: PlatformHTTPResponse) throws(PlatformError) -> BlueskySession {
    guard let body = try? JSONDecoder().decode(SessionBody.self, from: response.body), !body.accessJwt.isEmpty,
      !body.refreshJwt.isEmpty, body.did.hasPrefix("did:")
    else { throw malformed("session") }
    return BlueskySession(
      did: body.did, handle: body.handle, accessJwt: body.accessJwt, refreshJwt: body.refreshJwt,
      pdsUrl: body.didDoc?.pdsEndpoint, accessExpiresAt: BlueskyRules.expiry(ofJWT: body.accessJwt))
  }

  func malformed(_ what: String) -> PlatformError {
    PlatformError(platform: .bluesky, classification: .transient, status: nil, name: nil, message: "the \(what) answer could not be read")
  }
}
