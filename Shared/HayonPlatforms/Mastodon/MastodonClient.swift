public import Foundation
import HayonCrypto
import HayonModel

/// An app registered on one instance (`POST /api/v1/apps`). The secret authenticates the token
/// and revocation requests; it is stored sealed by auth-service.
public struct MastodonApp: Codable, Sendable, Hashable, CustomStringConvertible {
  public var clientId: String
  public var clientSecret: String
  public var redirectUri: String
  public var scopes: String

  public init(clientId: String, clientSecret: String, redirectUri: String, scopes: String) {
    self.clientId = clientId
    self.clientSecret = clientSecret
    self.redirectUri = redirectUri
    self.scopes = scopes
  }

  public var description: String { "MastodonApp(clientId: \(clientId), secret redacted)" }
}

public struct MastodonAccount: Sendable, Hashable {
  public var id: String
  public var username: String
  public var displayName: String?
  public var avatar: String?
}

/// The OAuth and account calls auth-service makes on any Mastodon instance.
public struct MastodonClient: Sendable {
  /// Posting, media and reading the profile: what Hayon needs and nothing more.
  public static let scopes = "read:accounts write:statuses write:media"

  let http: any PlatformHTTPClient
  let clock: any WallClock

  public init(http: any PlatformHTTPClient, clock: any WallClock) {
    self.http = http
    self.clock = clock
  }

  struct AppBody: Decodable {
    var client_id: String
    var client_secret: String
  }

  struct TokenBody: Decodable {
    var access_token: String
    var token_type: String?
  }

  struct AccountBody: Decodable {
    var id: String
    var username: String
    var display_name: String?
    var avatar: String?
  }

  /// `POST /api/v1/apps`.
  public func registerApp(instance: URL, clientName: String, redirectUri: String, website: String?) async throws(PlatformError)
    -> MastodonApp
  {
    var fields = [("client_name", clientName), ("redirect_uris", redirectUri), ("scopes", Self.scopes)]
    if let website { fields.append(("website", website)) }
    let response = try await send(.form("POST", instance.appendingPathComponent("api/v1/apps"), fields: fields), usedToken: false)
    guard let body = try? JSONDecoder().decode(AppBody.self, from: response.body), !body.client_id.isEmpty,
      !body.client_secret.isEmpty
    else { throw malformed("app registration") }
    return MastodonApp(clientId: body.client_id, clientSecret: body.client_secret, redirectUri: redirectUri, scopes: Self.scopes)
  }

  /// The browser's destination: `/oauth/authorize` with PKCE S256 and the flow's state.
  public func authorizeURL(instance: URL, app: MastodonApp, state: String, codeChallenge: String) -> URL {
    var components = URLComponents(url: instance.appendingPathComponent("oauth/authorize"), resolvingAgainstBaseURL: false)!
    components.percentEncodedQueryItems = [
      ("response_type", "code"), ("client_id", app.clientId), ("redirect_uri", app.redirectUri), ("scope", app.scopes),
      ("state", state), ("code_challenge", codeChallenge), ("code_challenge_method", "S256"),
    ].map { URLQueryItem(name: $0.0, value: FormEncoding.percentEncode($0.1)) }
    return components.url!
  }

  /// `POST /oauth/token` with the authorization code and the PKCE verifier.
  public func exchangeCode(instance: URL, app: MastodonApp, code: String, codeVerifier: String) async throws(PlatformError) -> String {
    let request = PlatformHTTPRequest.form(
      "POST", instance.appendingPathComponent("oauth/token"),
      fields: [
        ("grant_type", "authorization_code"), ("code", code), ("client_id", app.clientId),
        ("client_secret", app.clientSecret), ("redirect_uri", app.redirectUri), ("code_verifier", codeVerifier),
        ("scope", app.scopes),
      ])
    let response = try await send(request, usedToken: false)
    guard let body = try? JSONDecoder().decode(TokenBody.self, from: response.body), !body.access_token.isEmpty else {
      throw malformed("token")
    }
    return body.access_token
  }

  /// `GET /api/v1/accounts/verify_credentials`.
  public func verifyCredentials(instance: URL, accessToken: String) async throws(PlatformError) -> MastodonAccount {
    let request = PlatformHTTPRequest(
      method: "GET", url: instance.appendingPathComponent("api/v1/accounts/verify_credentials"),
      headers: [("Authorization", "Bearer \(accessToken)")])
    let response = try await send(request, usedToken: true)
    guard let body = try? JSONDecoder().decode(AccountBody.self, from: response.body), !body.id.isEmpty else {
      throw malformed("account")
    }
    return MastodonAccount(id: body.id, username: body.username, displayName: body.display_name, avatar: body.avatar)
  }

  /// Whether the instance still knows the registration: a `client_credentials` token request
  /// (the app's own, user-less token, revoked again at once). False on `invalid_client`; other
  /// failures throw, so a flaky instance does not cost a registration.
  public func appIsRegistered(instance: URL, app: MastodonApp) async throws(PlatformError) -> Bool {
    let scope = app.scopes.split(separator: " ").first.map(String.init) ?? "read"
    let request = PlatformHTTPRequest.form(
      "POST", instance.appendingPathComponent("oauth/token"),
      fields: [
        ("grant_type", "client_credentials"), ("client_id", app.clientId), ("client_secret", app.clientSecret), ("scope", scope),
      ])
    let response: PlatformHTTPResponse
    do {
      response = try await send(request, usedToken: false)
    } catch {
      if error.name == "invalid_client" { return false }
      throw error
    }
    guard let token = (try? JSONDecoder().decode(TokenBody.self, from: response.body))?.access_token else {
      throw malformed("token")
    }
    try? await revoke(instance: instance, app: app, accessToken: token)
    return true
  }

  /// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token was still live.
  public func revoke(instance: URL, app: MastodonApp, accessToken: String) async throws(PlatformError) {
    let request = PlatformHTTPRequest.form(
      "POST", instance.appendingPathComponent("oauth/revoke"),
      fields: [("client_id", app.clientId), ("client_secret", app.clientSecret), ("token", accessToken)])
    _ = try await send(request, usedToken: false)
  }

  func send(_ request: PlatformHTTPRequest, usedToken: Bool) async throws(PlatformError) -> PlatformHTTPResponse {
    let response: PlatformHTTPResponse
    do {
      response = try await http.send(request)
    } catch {
      throw PlatformError(platform: .mastodon, transport: error, requestWasIdempotent: !request.mustNotRepeat)
    }
    guard response.isSuccess else { throw MastodonErrors.classify(response, usedToken: usedToken, now: clock.now) }
    return response
  }

  func malformed(_ what: String) -> PlatformError {
    PlatformError(platform: .mastodon, classification: .transient, status: nil, name: nil, message: "the \(what) answer could not be read")
  }
}
