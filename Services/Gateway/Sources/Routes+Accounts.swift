import Foundation
import HayonAccount
import HayonAuth
import HayonHTTP1
import HayonModel
import HayonRPC
import HayonUsers

struct DisconnectResult: Codable, Sendable {
  /// The platform's sub-document after the disconnect.
  var account: Accounts.PlatformAccount
  /// The platform confirmed the revocation of Hayon's access.
  var revoked: Bool
}

struct AuthorizeURL: Codable, Sendable {
  var url: String
}

struct BlueskyConnectBody: Codable, Sendable {
  var identifier: String
  var appPassword: String
}

extension RequestContext {
  func socialAccount(userId: String) async throws(APIError) -> Accounts.SocialAccount {
    try await call { () async throws(RPCError) in
      try await gateway.backends.accounts.getAccount(.init(userId: userId), options: callOptions)
    }
  }
}

extension Gateway {
  static func registerAccountRoutes(_ router: inout Router) {
    router.add(
      "GET", "/api/accounts",
      RouteSpec(
        operationId: "getAccounts", summary: "The user's SocialAccount document (never a token).", tag: "accounts",
        auth: .bearer, responses: [ResponseSpec(200, "The document, one entry per platform.", .json(schema: "SocialAccount"))],
        errors: [400, 401, 500, 503, 504])
    ) { context throws(APIError) in
      try context.expectNoBody()
      let user = try await context.authenticatedUser()
      // account-service's JSON for the document is exactly what `.json(document)` would write
      // (same type, same encoder), so it is forwarded as received instead of decoded and
      // encoded again: that pair was a fifth of the gateway's CPU time on this route.
      let document = try await context.call { () async throws(RPCError) in
        try await context.gateway.backends.accounts.rpc.callReturningJSON(
          Accounts.Method.GetAccount.self, .init(userId: user.userId), options: context.callOptions)
      }
      return .rawJSON(document)
    }
  }

  static func registerPlatformRoutes(_ router: inout Router) {
    let platformParameter = ["platform": "One of \(Platform.knownNames); other names answer 404."]

    router.add(
      "GET", "/api/platform/{platform}/connect",
      RouteSpec(
        operationId: "beginConnect", summary: "Start the platform's OAuth flow: the URL to send the browser to.",
        tag: "platforms", auth: .bearer, pathParameters: platformParameter,
        query: [
          QueryParameter(
            "instance", "Mastodon only: the instance to connect (`mastodon.social` or `https://...`).",
            maxLength: GatewayLimits.instanceUrlLength)
        ],
        responses: [ResponseSpec(200, "The authorize URL.", .json(schema: "AuthorizeURL"))],
        errors: [400, 401, 404, 429, 500, 501, 503, 504])
    ) { context throws(APIError) in
      try context.expectNoBody()
      let platform = try context.platform()
      let user = try await context.authenticatedUser()
      let instance = try context.instanceParameter(platform)
      let response = try await context.call { () async throws(RPCError) in
        try await context.gateway.backends.connections.beginConnect(
          .init(userId: user.userId, platform: platform, instanceUrl: instance), options: context.callOptions)
      }
      return .json(AuthorizeURL(url: response.authorizeUrl))
    }

    router.add(
      "POST", "/api/platform/bluesky/connect",
      RouteSpec(
        operationId: "connectBluesky", summary: "Connect Bluesky with an app password (Bluesky has no OAuth).",
        tag: "platforms", auth: .bearer, requestBody: .json(schema: "BlueskyConnectRequest"),
        responses: [ResponseSpec(200, "The Bluesky sub-document, connected.", .json(schema: "PlatformAccount"))],
        errors: [400, 401, 409, 413, 415, 429, 500, 503, 504])
    ) { context throws(APIError) in
      let body = try context.decodeJSON(BlueskyConnectBody.self)
      guard !body.identifier.isEmpty, body.identifier.utf8.count <= Connections.Limits.identifierLength else {
        throw .badRequest("identifier must be 1 to \(Connections.Limits.identifierLength) bytes")
      }
      guard !body.appPassword.isEmpty, body.appPassword.utf8.count <= Connections.Limits.passwordLength else {
        throw .badRequest("appPassword must be 1 to \(Connections.Limits.passwordLength) bytes")
      }
      let user = try await context.authenticatedUser()
      _ = try await context.call { () async throws(RPCError) in
        try await context.gateway.backends.connections.connectBluesky(
          .init(userId: user.userId, identifier: body.identifier, appPassword: body.appPassword),
          options: context.callOptions)
      }
      return .json(try await context.socialAccount(userId: user.userId)[.bluesky])
    }

    router.add(
      "GET", "/api/platform/{platform}/callback",
      RouteSpec(
        operationId: "completeConnect",
        summary: "The platform's OAuth redirect: finishes the flow and sends the browser back to /settings.",
        tag: "platforms", auth: .none, pathParameters: platformParameter,
        query: [
          QueryParameter("state", "The flow's state.", maxLength: Connections.Limits.stateLength),
          QueryParameter("code", "The authorization code (on success).", maxLength: Connections.Limits.codeLength),
          QueryParameter("error", "The platform's error (on refusal).", maxLength: Connections.Limits.callbackErrorLength),
          QueryParameter(
            "error_description", "The platform's error description.", maxLength: Connections.Limits.callbackErrorLength),
        ],
        responses: [
          ResponseSpec(
            302, "Back to `/settings` on success, `/settings?error=<reason>` on failure.", .none, headers: ["Location"])
        ],
        errors: [404])
    ) { context throws(APIError) in
      let platform = try context.platform()
      return await context.completeConnect(platform)
    }

    router.add(
      "GET", "/api/platform/{platform}/refresh",
      RouteSpec(
        operationId: "refreshPlatform", summary: "Fetch the profile again; the refreshed sub-document.",
        tag: "platforms", auth: .bearer, pathParameters: platformParameter,
        responses: [ResponseSpec(200, "The platform's sub-document.", .json(schema: "PlatformAccount"))],
        errors: [400, 401, 404, 409, 429, 500, 501, 503, 504])
    ) { context throws(APIError) in
      try context.expectNoBody()
      let platform = try context.platform()
      let user = try await context.authenticatedUser()
      _ = try await context.call { () async throws(RPCError) in
        try await context.gateway.backends.connections.refreshProfile(
          .init(userId: user.userId, platform: platform), options: context.callOptions)
      }
      return .json(try await context.socialAccount(userId: user.userId)[platform])
    }

    router.add(
      "DELETE", "/api/platform/{platform}/disconnect",
      RouteSpec(
        operationId: "disconnectPlatform",
        summary: "Disconnect: revoke at the platform (best effort) and forget the credential.", tag: "platforms",
        auth: .bearer, pathParameters: platformParameter,
        responses: [
          ResponseSpec(200, "The sub-document after, and whether the platform confirmed the revocation.", .json(schema: "DisconnectResult"))
        ], errors: [400, 401, 404, 409, 500, 501, 503, 504])
    ) { context throws(APIError) in
      try context.expectNoBody()
      let platform = try context.platform()
      let user = try await context.authenticatedUser()
      let result = try await context.call { () async throws(RPCError) in
        try await context.gateway.backends.connections.disconnect(
          .init(userId: user.userId, platform: platform), options: context.callOptions)
      }
      let account = try await context.socialAccount(userId: user.userId)
      return .json(DisconnectResult(account: account[platform], revoked: result.revoked))
    }
  }
}

extension RequestContext {
  func instanceParameter(_ platform: Platform) throws(APIError) -> String? {
    let values = request.query.values("instance")
    guard let instance = values.first else { return nil }
    guard values.count == 1 else { throw .badRequest("give 'instance' at most once") }
    guard platform == .mastodon else { throw .badRequest("'instance' applies to mastodon only") }
    guard !instance.isEmpty, instance.utf8.count <= GatewayLimits.instanceUrlLength else {
      throw .badRequest("instance must be 1 to \(GatewayLimits.instanceUrlLength) bytes")
    }
    return instance
  }

  /// The callback: always a redirect to the settings page, never a JSON error page.
  func completeConnect(_ platform: Platform) async -> GatewayResponse {
    func single(_ name: String, _ limit: Int) -> (String?, Bool) {
      let values = request.query.values(name)
      if values.count > 1 { return (nil, false) }
      guard let value = values.first else { return (nil, true) }
      return value.utf8.count <= limit ? (value, true) : (nil, false)
    }
    let (state, stateOK) = single("state", Connections.Limits.stateLength)
    let (code, codeOK) = single("code", Connections.Limits.codeLength)
    let (error, errorOK) = single("error", Connections.Limits.callbackErrorLength)
    let (description, descriptionOK) = single("error_description", Connections.Limits.callbackErrorLength)
    guard stateOK, codeOK, errorOK, descriptionOK, request.body.isEmpty else {
      return gateway.settingsRedirect(error: "invalid_callback")
    }
    if let error, !error.isEmpty {
      // Tell auth-service so the flow's state is used up, then report the refusal.
      _ = try? await gateway.backends.connections.completeConnect(
        .init(platform: platform, state: state, code: nil, error: error, errorDescription: description),
        options: callOptions)
      return gateway.settingsRedirect(error: error == "access_denied" ? "access_denied" : "platform_error")
    }
    do throws(RPCError) {
      _ = try await gateway.backends.connections.completeConnect(
        .init(platform: platform, state: state, code: code), options: callOptions)
      return gateway.settingsRedirect(error: nil)
    } catch {
      let reason: String
      switch error.code {
      case .unimplemented: reason = "not_available"
      case .permissionDenied: reason = "expired_or_unknown_state"
      case .invalidArgument: reason = "invalid_callback"
      case .unauthenticated: reason = "platform_refused"
      case .resourceExhausted: reason = "rate_limited"
      case .unavailable, .deadlineExceeded: reason = "unavailable"
      default: reason = "connect_failed"
      }
      return gateway.settingsRedirect(error: reason)
    }
  }
}

extension Gateway {
  /// `/settings` or `/settings?error=<reason>`, absolute when a public URL is configured: where
  /// both the OAuth callback and the settings page's forms send the browser back to.
  func settingsLocation(error: String?) -> String {
    var location = (configuration.publicURL ?? "") + "/settings"
    if let error { location += "?error=" + error }
    return location
  }

  func settingsRedirect(error: String?) -> GatewayResponse {
    .redirect(to: settingsLocation(error: error))
  }
}
