import HayonModel
import HayonRPC

/// `hayon.auth.v1.Users`: Hayon's own user accounts, served by auth-service. Sign-up and login
/// give a token pair; the gateway verifies the access token on every request and trades refresh
/// tokens for new pairs.
///
/// Conventions:
/// - Access tokens are short-lived signed tokens (default 15 minutes) checked without a database
///   read. Logout ends the refresh side at once; an access token already issued stays valid
///   until it expires.
/// - Refresh tokens are opaque and single use: every `Refresh` returns a new pair and kills the
///   token it was given. Presenting a token that was already used revokes the whole session
///   (every token descended from the same login), because only a thief or a replay does that.
/// - Wrong password and unknown email answer the same `UNAUTHENTICATED`
///   (`Messages.incorrectCredentials`), so the service does not reveal who has an account.
///   `SignUp` with a taken email answers `ALREADY_EXISTS`.
/// - Too many failed logins for one email answer `RESOURCE_EXHAUSTED` with trailing metadata
///   `hayon-retry-after` (ISO 8601 UTC) saying when to try again.
/// - `INVALID_ARGUMENT` names the offending field, and nothing changes.
/// - No response or error carries a password or password hash; only `SignUp`, `Login` and
///   `Refresh` responses carry tokens (the caller's own).
public enum Users {
  public static let serviceName = "hayon.auth.v1.Users"

  /// Input limits the service enforces.
  public enum Limits {
    /// RFC 5321's limit on a forward path, after trimming.
    public static let emailBytes = 254
    /// The part before the `@` (RFC 5321 §4.5.3.1.1).
    public static let emailLocalPartBytes = 64
    public static let passwordMinimumCharacters = 8
    public static let passwordMaximumCharacters = 128
    /// A second bound on the password, in UTF-8 bytes: 128 characters of emoji can be long.
    public static let passwordMaximumBytes = 1024
    /// Access tokens are about 250 bytes; anything longer than this is refused unread.
    public static let accessTokenBytes = 4096
    /// Refresh tokens are 43 characters.
    public static let refreshTokenBytes = 256
    /// User ids: 1…64 characters of `[A-Za-z0-9_-]` (the same rule as the other contracts).
    public static let userIdLength = UserID.maximumLength
  }

  /// The fixed error messages callers may match on.
  public enum Messages {
    /// `UNAUTHENTICATED` from `Login`, for a wrong password and an unknown email alike.
    public static let incorrectCredentials = "email or password is incorrect"
    /// `UNAUTHENTICATED` from `VerifyAccessToken`: bad signature, shape, type or key.
    public static let invalidAccessToken = "access token is invalid"
    /// `UNAUTHENTICATED` from `VerifyAccessToken`: well formed and signed, but past its expiry.
    /// Callers refresh and retry.
    public static let expiredAccessToken = "access token has expired"
    /// `UNAUTHENTICATED` from `Refresh`/`Logout`: unknown, already used, or its session ended.
    public static let invalidRefreshToken = "refresh token is not valid; log in again"
    /// `UNAUTHENTICATED` from `Refresh`: past its expiry.
    public static let expiredRefreshToken = "refresh token has expired; log in again"
    /// `ALREADY_EXISTS` from `SignUp`.
    public static let emailTaken = "an account with this email already exists"
  }

  /// Trailing metadata on `RESOURCE_EXHAUSTED` from `Login`: when the email may try again,
  /// ISO 8601 UTC with milliseconds (`HayonModel.Timestamp`).
  public static let retryAfterMetadataKey = "hayon-retry-after"

  // MARK: Messages

  /// A Hayon user as other services see it. Never carries the password hash.
  public struct User: Codable, Sendable, Hashable {
    public var userId: String
    /// Normalised: trimmed and lower-cased.
    public var email: String
    public var createdAt: Timestamp

    public init(userId: String, email: String, createdAt: Timestamp) {
      self.userId = userId
      self.email = email
      self.createdAt = createdAt
    }
  }

  /// What a client presents: the access token on every request (`Authorization: Bearer`), the
  /// refresh token only to `Refresh` and `Logout`.
  public struct TokenPair: Codable, Sendable, Hashable, CustomStringConvertible,
    CustomDebugStringConvertible, CustomReflectable
  {
    public var accessToken: String
    public var accessTokenExpiresAt: Timestamp
    public var refreshToken: String
    public var refreshTokenExpiresAt: Timestamp

    public init(
      accessToken: String, accessTokenExpiresAt: Timestamp, refreshToken: String, refreshTokenExpiresAt: Timestamp
    ) {
      self.accessToken = accessToken
      self.accessTokenExpiresAt = accessTokenExpiresAt
      self.refreshToken = refreshToken
      self.refreshTokenExpiresAt = refreshTokenExpiresAt
    }

    // Tokens must not reach a log through string interpolation or `dump`.
    public var description: String {
      "TokenPair(accessToken: redacted, accessTokenExpiresAt: \(accessTokenExpiresAt), "
        + "refreshToken: redacted, refreshTokenExpiresAt: \(refreshTokenExpiresAt))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
      Mirror(self, children: ["accessTokenExpiresAt": accessTokenExpiresAt, "refreshTokenExpiresAt": refreshTokenExpiresAt])
    }
  }

  /// `SignUp` and `Login` take an email and a password.
  public struct Credentials: Codable, Sendable, Hashable, CustomStringConvertible,
    CustomDebugStringConvertible, CustomReflectable
  {
    /// Trimmed and lower-cased by the service; at most `Limits.emailBytes` after that.
    public var email: String
    /// `SignUp`: `Limits.passwordMinimumCharacters`…`passwordMaximumCharacters` characters and
    /// at most `passwordMaximumBytes` bytes of UTF-8.
    public var password: String

    public init(email: String, password: String) {
      self.email = email
      self.password = password
    }

    public var description: String { "Credentials(email: \(email), password: redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["email": email]) }
  }

  /// A signed-in user: who, and the tokens to act as them.
  public struct Session: Codable, Sendable, Hashable {
    public var user: User
    public var tokens: TokenPair

    public init(user: User, tokens: TokenPair) {
      self.user = user
      self.tokens = tokens
    }
  }

  public struct RefreshTokenRequest: Codable, Sendable, Hashable, CustomStringConvertible,
    CustomDebugStringConvertible, CustomReflectable
  {
    public var refreshToken: String

    public init(refreshToken: String) { self.refreshToken = refreshToken }

    public var description: String { "RefreshTokenRequest(refreshToken: redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
  }

  public struct VerifyAccessTokenRequest: Codable, Sendable, Hashable, CustomStringConvertible,
    CustomDebugStringConvertible, CustomReflectable
  {
    public var accessToken: String

    public init(accessToken: String) { self.accessToken = accessToken }

    public var description: String { "VerifyAccessTokenRequest(accessToken: redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
  }

  /// Who a valid access token speaks for, and until when.
  public struct VerifiedAccessToken: Codable, Sendable, Hashable {
    public var userId: String
    public var email: String
    public var expiresAt: Timestamp

    public init(userId: String, email: String, expiresAt: Timestamp) {
      self.userId = userId
      self.email = email
      self.expiresAt = expiresAt
    }
  }

  public struct GetUserRequest: Codable, Sendable, Hashable {
    public var userId: String
    public init(userId: String) { self.userId = userId }
  }

  public struct Empty: Codable, Sendable, Hashable { public init() {} }

  // MARK: Methods

  public enum Method {
    /// Creates an account and signs it in. `ALREADY_EXISTS` when the email is taken.
    public enum SignUp: UnaryMethod {
      public typealias Input = Credentials
      public typealias Output = Session
      public static let descriptor = MethodDescriptor(service: serviceName, method: "SignUp")
    }

    /// Signs in: a new session with a fresh token pair. A user has a bounded number of live
    /// sessions (50 by default); a login beyond it ends the oldest.
    public enum Login: UnaryMethod {
      public typealias Input = Credentials
      public typealias Output = Session
      public static let descriptor = MethodDescriptor(service: serviceName, method: "Login")
    }

    /// Trades a refresh token for a new pair; the token given is dead afterwards. Not
    /// idempotent: a retry with the same token counts as reuse and ends the session.
    public enum Refresh: UnaryMethod {
      public typealias Input = RefreshTokenRequest
      public typealias Output = TokenPair
      public static let descriptor = MethodDescriptor(service: serviceName, method: "Refresh")
    }

    /// Ends the session the refresh token belongs to (every refresh token of that login).
    /// Logging out of an already ended session succeeds.
    public enum Logout: UnaryMethod {
      public typealias Input = RefreshTokenRequest
      public typealias Output = Empty
      public static let descriptor = MethodDescriptor(service: serviceName, method: "Logout", isIdempotent: true)
    }

    /// Checks an access token's signature and expiry and says whose it is.
    public enum VerifyAccessToken: UnaryMethod {
      public typealias Input = VerifyAccessTokenRequest
      public typealias Output = VerifiedAccessToken
      public static let descriptor = MethodDescriptor(service: serviceName, method: "VerifyAccessToken", isIdempotent: true)
    }

    /// One user by id; `NOT_FOUND` when there is none.
    public enum GetUser: UnaryMethod {
      public typealias Input = GetUserRequest
      public typealias Output = User
      public static let descriptor = MethodDescriptor(service: serviceName, method: "GetUser", isIdempotent: true)
    }
  }

  // MARK: Handler side

  /// What an implementation provides; `registerMethods` wires each method to the router.
  public protocol ServiceProtocol: RPCService {
    func signUp(_ request: Credentials, context: ServerContext) async throws -> Session
    func login(_ request: Credentials, context: ServerContext) async throws -> Session
    func refresh(_ request: RefreshTokenRequest, context: ServerContext) async throws -> TokenPair
    func logout(_ request: RefreshTokenRequest, context: ServerContext) async throws -> Empty
    func verifyAccessToken(_ request: VerifyAccessTokenRequest, context: ServerContext) async throws -> VerifiedAccessToken
    func getUser(_ request: GetUserRequest, context: ServerContext) async throws -> User
  }

  // MARK: Caller side

  public struct Client: Sendable {
    public let rpc: RPCClient
    public init(_ rpc: RPCClient) { self.rpc = rpc }

    public func signUp(_ request: Credentials, options: CallOptions = CallOptions()) async throws(RPCError) -> Session {
      try await rpc.call(Method.SignUp.self, request, options: options)
    }

    public func login(_ request: Credentials, options: CallOptions = CallOptions()) async throws(RPCError) -> Session {
      try await rpc.call(Method.Login.self, request, options: options)
    }

    public func refresh(_ request: RefreshTokenRequest, options: CallOptions = CallOptions()) async throws(RPCError)
      -> TokenPair
    {
      try await rpc.call(Method.Refresh.self, request, options: options)
    }

    public func logout(_ request: RefreshTokenRequest, options: CallOptions = CallOptions()) async throws(RPCError)
      -> Empty
    {
      try await rpc.call(Method.Logout.self, request, options: options)
    }

    public func verifyAccessToken(
      _ request: VerifyAccessTokenRequest, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> VerifiedAccessToken {
      try await rpc.call(Method.VerifyAccessToken.self, request, options: options)
    }

    public func getUser(_ request: GetUserRequest, options: CallOptions = CallOptions()) async throws(RPCError) -> User {
      try await rpc.call(Method.GetUser.self, request, options: options)
    }
  }
}

extension Users.ServiceProtocol {
  public var serviceName: String { Users.serviceName }

  public func registerMethods(with router: inout RPCRouter) {
    router.register(Users.Method.SignUp.self) { try await self.signUp($0, context: $1) }
    router.register(Users.Method.Login.self) { try await self.login($0, context: $1) }
    router.register(Users.Method.Refresh.self) { try await self.refresh($0, context: $1) }
    router.register(Users.Method.Logout.self) { try await self.logout($0, context: $1) }
    router.register(Users.Method.VerifyAccessToken.self) { try await self.verifyAccessToken($0, context: $1) }
    router.register(Users.Method.GetUser.self) { try await self.getUser($0, context: $1) }
  }
}
