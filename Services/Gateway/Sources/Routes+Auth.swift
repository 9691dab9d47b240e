import HayonHTTP1
import HayonRPC
import HayonUsers

struct SignUpBody: Codable, Sendable {
  var email: String
  var password: String
}

struct RefreshBody: Codable, Sendable {
  var refreshToken: String
}

extension RequestContext {
  /// Credentials from the body, bounded before anything is forwarded.
  func credentials() throws(APIError) -> Users.Credentials {
    let body = try decodeJSON(SignUpBody.self)
    guard !body.email.isEmpty, body.email.utf8.count <= Users.Limits.emailBytes + 64 else {
      throw .badRequest("email must be 1 to \(Users.Limits.emailBytes) bytes")
    }
    guard !body.password.isEmpty, body.password.utf8.count <= Users.Limits.passwordMaximumBytes else {
      throw .badRequest("password must be 1 to \(Users.Limits.passwordMaximumBytes) bytes")
    }
    return Users.Credentials(email: body.email, password: body.password)
  }

  func refreshToken() throws(APIError) -> Users.RefreshTokenRequest {
    let body = try decodeJSON(RefreshBody.self)
    guard !body.refreshToken.isEmpty, body.refreshToken.utf8.count <= Users.Limits.refreshTokenBytes else {
      throw .badRequest("refreshToken must be 1 to \(Users.Limits.refreshTokenBytes) bytes")
    }
    return Users.RefreshTokenRequest(refreshToken: body.refreshToken)
  }
}

extension Gateway {
  static func registerAuthRoutes(_ router: inout Router) {
    router.add(
      "POST", "/api/auth/signup",
      RouteSpec(
        operationId: "signUp", summary: "Create a Hayon account and sign in.", tag: "auth", auth: .none,
        requestBody: .json(schema: "Credentials"),
        responses: [ResponseSpec(201, "The account was created; a new session.", .json(schema: "Session"))],
        errors: [400, 409, 413, 415, 429, 500, 503, 504])
    ) { context throws(APIError) in
      let credentials = try context.credentials()
      let session = try await context.call { () async throws(RPCError) in
        try await context.gateway.backends.users.signUp(credentials, options: context.callOptions)
      }
      return .json(session, status: 201)
    }

    router.add(
      "POST", "/api/auth/login",
      RouteSpec(
        operationId: "login", summary: "Sign in with email and password.", tag: "auth", auth: .none,
        requestBody: .json(schema: "Credentials"),
        responses: [ResponseSpec(200, "A new session.", .json(schema: "Session"))],
        errors: [400, 401, 413, 415, 429, 500, 503, 504])
    ) { context throws(APIError) in
      let credentials = try context.credentials()
      let session = try await context.call { () async throws(RPCError) in
        try await context.gateway.backends.users.login(credentials, options: context.callOptions)
      }
      return .json(session)
    }

    router.add(
      "POST", "/api/auth/refresh",
      RouteSpec(
        operationId: "refresh", summary: "Trade a refresh token for a new token pair (the old one dies).", tag: "auth",
        auth: .none, requestBody: .json(schema: "RefreshRequest"),
        responses: [ResponseSpec(200, "A new token pair.", .json(schema: "TokenPair"))],
        errors: [400, 401, 413, 415, 500, 503, 504])
    ) { context throws(APIError) in
      let request = try context.refreshToken()
      let pair = try await context.call { () async throws(RPCError) in
        try await context.gateway.backends.users.refresh(request, options: context.callOptions)
      }
      return .json(pair)
    }

    router.add(
      "POST", "/api/auth/logout",
      RouteSpec(
        operationId: "logout", summary: "End the session the refresh token belongs to.", tag: "auth", auth: .none,
        requestBody: .json(schema: "RefreshRequest"),
        responses: [ResponseSpec(204, "The session is over.")], errors: [400, 401, 413, 415, 500, 503, 504])
    ) { context throws(APIError) in
      let request = try context.refreshToken()
      _ = try await context.call { () async throws(RPCError) in
        try await context.gateway.backends.users.logout(request, options: context.callOptions)
      }
      return .noContent
    }

    router.add(
      "GET", "/api/auth/me",
      RouteSpec(
        operationId: "me", summary: "The signed-in user.", tag: "auth", auth: .bearer,
        responses: [ResponseSpec(200, "The user.", .json(schema: "User"))], errors: [400, 401, 404, 500, 503, 504])
    ) { context throws(APIError) in
      try context.expectNoBody()
      let user = try await context.authenticatedUser()
      let found = try await context.call { () async throws(RPCError) in
        try await context.gateway.backends.users.getUser(.init(userId: user.userId), options: context.callOptions)
      }
      return .json(found)
    }
  }
}
