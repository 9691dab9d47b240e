import Foundation
import HayonCrypto
import HayonModel
import HayonRPC
import HayonRuntime
import HayonStore
import HayonUsers

/// The `hayon.auth.v1.Users` implementation: accounts, logins, access tokens and rotating
/// refresh tokens, all state in a `DocumentStore` (see `UsersStore` for the collections).
///
/// auth-service constructs one with its store (whose schema includes `UsersStore.collections`),
/// the access-token signing keys and a configuration, and registers it with its `RPCServer`:
///
///     let store = try await SQLiteStore(
///       .file(path), schema: StoreSchema(collections: AuthStore.collections + UsersStore.collections))
///     let keys = try KeyRing(parsing: keysFromEnvironment, current: currentKeyID, allowedKeyLengths: 32...64)
///     let users = try UsersService(store: store, signingKeys: keys, configuration: .defaults, logger: logger)
///     let server = try RPCServer(configuration: rpcConfiguration, services: [connections, users])
///     // and, in the service group: await users.purgeExpiredPeriodically(every: .seconds(3600))
public struct UsersService: Users.ServiceProtocol {
  /// The `typ` of access tokens: a token signed for another purpose is not an access token.
  static let accessTokenType = "access"
  /// 256 random bits per refresh token (43 base64url characters).
  static let refreshTokenRandomBytes = 32
  /// 128 random bits per user and session id (22 characters of `[A-Za-z0-9_-]`).
  static let idRandomBytes = 16
  /// Documents deleted per transaction by `purgeExpired`, so the write lock is never held long.
  static let purgeBatchSize = 200

  public let configuration: UsersConfiguration
  private let store: any DocumentStore
  private let signer: TokenSigner
  private let hasher: PasswordHasher
  let hashing: PasswordHashingPool
  private let emails: EmailCache
  private let clock: any WallClock
  private let logger: Logger
  /// A real hash of a random password, checked when a login names an unknown email so that
  /// login costs one hash whether or not the account exists.
  private let decoyPasswordHash: String

  /// - Parameters:
  ///   - store: auth-service's store; its schema must include `UsersStore.collections`.
  ///   - signingKeys: HMAC keys for access tokens (32–64 bytes each); the current one signs,
  ///     any of them verifies, so keys can rotate.
  ///   - clock: the source of "now" for every expiry and the login throttle.
  ///   - logger: lines name user and session ids, never emails, passwords, hashes or tokens.
  /// - Throws: `UsersConfigurationError` or `CryptoError` for an unusable configuration or keys.
  /// Computes one password hash (the decoy) before returning.
  public init(
    store: any DocumentStore, signingKeys: KeyRing, configuration: UsersConfiguration = .defaults,
    clock: any WallClock = SystemWallClock(), logger: Logger = Logger(label: "auth-users")
  ) throws {
    if let problem = configuration.problem { throw UsersConfigurationError(problem) }
    self.configuration = configuration
    self.store = store
    self.signer = try TokenSigner(
      keyRing: signingKeys,
      configuration: .defaults {
        $0.lifetime = configuration.accessTokenLifetime
        $0.maximumTokenBytes = Users.Limits.accessTokenBytes
      },
      clock: clock)
    // The policy bounds the password as sent; the hasher bounds it after NFC normalisation,
    // which can make text up to three times longer. Give the hasher that room, so a password
    // the policy accepted is never refused (or answered as a server failure) by the hasher.
    var hashing = configuration.passwordHashing
    hashing.maximumPasswordBytes = max(hashing.maximumPasswordBytes, 3 * Users.Limits.passwordMaximumBytes)
    self.hasher = try PasswordHasher(configuration: hashing)
    self.hashing = PasswordHashingPool(
      width: configuration.maximumConcurrentPasswordHashes, maximumQueued: configuration.maximumQueuedPasswordHashes)
    self.emails = EmailCache(capacity: configuration.emailCacheCapacity)
    self.clock = clock
    self.logger = logger
    self.decoyPasswordHash = try hasher.hash(SecureRandom.token(bytes: 32))
  }

  // MARK: - Users.ServiceProtocol

  public func signUp(_ request: Users.Credentials, context: ServerContext) async throws -> Users.Session {
    try await answering {
      let email = try EmailAddress(request.email).normalized
      try PasswordPolicy.checkNewPassword(request.password)
      // Refuse a taken email before spending a hash on it; the insert below settles races.
      if try await store.get(UsersStore.userEmails, id: email) != nil { throw UsersError.emailTaken }

      let password = request.password
      let passwordHash = try await hashing.run { [hasher] () throws(CryptoError) in try hasher.hash(password) }.get()
      let now = clock.now
      let userId = SecureRandom.token(bytes: Self.idRandomBytes)
      let session = try startSession(for: userId, at: now)
      let user = UserRecord(
        email: email, passwordHash: passwordHash, createdAt: now, passwordChangedAt: now,
        recentSessionIds: [session.sessionId])
      try await store.transaction { documents in
        do {
          try documents.insert(EmailRecord(userId: userId), into: UsersStore.userEmails, id: email)
        } catch let error as StoreError where error == .alreadyExists(collection: UsersStore.userEmails) {
          throw UsersError.emailTaken
        }
        try documents.insert(user, into: UsersStore.users, id: userId)
        try session.write(to: documents)
      }
      emails.remember(email, for: userId)
      logger.info("user signed up", ["userId": userId, "sessionId": session.sessionId])
      return Users.Session(user: Self.user(userId, user), tokens: session.tokens)
    }
  }

  public func login(_ request: Users.Credentials, context: ServerContext) async throws -> Users.Session {
    try await answering {
      let email = try EmailAddress(request.email).normalized
      try PasswordPolicy.checkBounds(request.password)
      let now = clock.now

      // Count the attempt (or refuse it) before the password is checked; see `LoginThrottle`.
      let policy = configuration.loginThrottle
      let decision = try await store.transaction { documents in
        let record = try documents.get(LoginThrottleRecord.self, from: UsersStore.loginThrottle, id: email)
        let decision = LoginThrottle.decide(record?.value, at: now, policy: policy)
        if case .attempt(let next) = decision { try documents.put(next, in: UsersStore.loginThrottle, id: email) }
        return decision
      }
      if case .locked(let until) = decision {
        logger.notice("login refused: too many failed attempts for one email")
        throw UsersError.loginThrottled(until: until, now: now)
      }

      let userId = try await store.get(EmailRecord.self, from: UsersStore.userEmails, id: email)?.value.userId
      let stored = try await userId.asyncFlatMap { try await store.get(UserRecord.self, from: UsersStore.users, id: $0) }
      // An unknown email is checked against the decoy: same work, same answer.
      let storedHash = stored?.value.passwordHash ?? decoyPasswordHash
      let password = request.password
      let matches = try await hashing.run { [hasher] () throws(CryptoError) in
        try hasher.verify(password, against: storedHash)
      }.get()
      guard matches, let stored else { throw UsersError.incorrectCredentials }

      // Hashes made under an older cost are replaced now that the password is at hand.
      let newHash: String? =
        hasher.needsRehash(stored.value.passwordHash)
        ? try await hashing.run { [hasher] () throws(CryptoError) in try hasher.hash(password) }.get() : nil
      let session = try startSession(for: stored.id, at: now)
      let sessionLimit = configuration.maximumSessionsPerUser
      let displaced = try await store.transaction { documents -> [String] in
        try documents.delete(UsersStore.loginThrottle, id: email)
        var displaced: [String] = []
        try documents.modify(UserRecord.self, in: UsersStore.users, id: stored.id) { user in
          // The same password under the new cost: not a password change.
          if let newHash { user.passwordHash = newHash }
          displaced = user.admitSession(session.sessionId, limit: sessionLimit)
        }
        for sessionId in displaced {
          guard var old = try documents.get(SessionRecord.self, from: UsersStore.sessions, id: sessionId),
            !old.value.isRevoked
          else { continue }
          old.value.revokedAt = now
          old.value.revocationReason = .sessionLimit
          try documents.update(old, in: UsersStore.sessions)
        }
        try session.write(to: documents)
        return displaced
      }
      if !displaced.isEmpty {
        logger.info(
          "oldest sessions ended: too many sessions for one user",
          ["userId": stored.id, "sessionIds": displaced.joined(separator: ",")])
      }
      emails.remember(stored.value.email, for: stored.id)
      logger.info("user logged in", ["userId": stored.id, "sessionId": session.sessionId])
      return Users.Session(user: Self.user(stored.id, stored.value), tokens: session.tokens)
    }
  }

  public func refresh(_ request: Users.RefreshTokenRequest, context: ServerContext) async throws -> Users.TokenPair {
    try await answering {
      try TokenInput.checkRefreshToken(request.refreshToken)
      let tokenID = Self.refreshTokenID(request.refreshToken)
      let now = clock.now
      let nextToken = SecureRandom.token(bytes: Self.refreshTokenRandomBytes)
      let nextExpiry = now.addingTimeInterval(configuration.refreshTokenLifetime.timeInterval)

      let outcome = try await store.transaction { documents -> RefreshOutcome in
        let token = try documents.get(RefreshTokenRecord.self, from: UsersStore.refreshTokens, id: tokenID)
        let session = try token.flatMap {
          try documents.get(SessionRecord.self, from: UsersStore.sessions, id: $0.value.sessionId)
        }
        let decision = RefreshDecision.decide(token: token?.value, session: session?.value, now: now)
        guard let token, var session else { return RefreshOutcome(decision: decision) }
        switch decision {
        case .rotate:
          var used = token
          used.value.usedAt = now
          try documents.update(used, in: UsersStore.refreshTokens)
          try documents.insert(
            RefreshTokenRecord(
              sessionId: token.value.sessionId, userId: token.value.userId, issuedAt: now, expiresAt: nextExpiry),
            into: UsersStore.refreshTokens, id: Self.refreshTokenID(nextToken))
          session.value.lastRefreshedAt = now
          session.value.expiresAt = max(session.value.expiresAt, nextExpiry)
          try documents.update(session, in: UsersStore.sessions)
        case .reuseDetected:
          session.value.revokedAt = now
          session.value.revocationReason = .refreshTokenReuse
          try documents.update(session, in: UsersStore.sessions)
        case .expired, .rejected:
          break
        }
        return RefreshOutcome(decision: decision, userId: token.value.userId, sessionId: token.value.sessionId)
      }

      switch outcome.decision {
      case .rotate:
        let access = try signer.issue(subject: outcome.userId, type: Self.accessTokenType)
        return Users.TokenPair(
          accessToken: access.token, accessTokenExpiresAt: Self.timestamp(secondsSince1970: access.claims.expiresAt),
          refreshToken: nextToken, refreshTokenExpiresAt: Timestamp(nextExpiry))
      case .reuseDetected:
        logger.warning(
          "a used refresh token was presented again; the session is revoked",
          ["userId": outcome.userId, "sessionId": outcome.sessionId])
        throw UsersError.invalidRefreshToken
      case .expired:
        throw UsersError.expiredRefreshToken
      case .rejected:
        throw UsersError.invalidRefreshToken
      }
    }
  }

  public func logout(_ request: Users.RefreshTokenRequest, context: ServerContext) async throws -> Users.Empty {
    try await answering {
      try TokenInput.checkRefreshToken(request.refreshToken)
      let tokenID = Self.refreshTokenID(request.refreshToken)
      let now = clock.now
      // Any token the session ever issued identifies it, used or expired: logging out with a
      // stale token still ends the session.
      let sessionId = try await store.transaction { documents -> String? in
        guard let token = try documents.get(RefreshTokenRecord.self, from: UsersStore.refreshTokens, id: tokenID),
          var session = try documents.get(SessionRecord.self, from: UsersStore.sessions, id: token.value.sessionId)
        else { return nil }
        if !session.value.isRevoked {
          session.value.revokedAt = now
          session.value.revocationReason = .logout
          try documents.update(session, in: UsersStore.sessions)
        }
        return session.id
      }
      guard let sessionId else { throw UsersError.invalidRefreshToken }
      logger.info("session ended by logout", ["sessionId": sessionId])
      return Users.Empty()
    }
  }

  public func verifyAccessToken(
    _ request: Users.VerifyAccessTokenRequest, context: ServerContext
  ) async throws -> Users.VerifiedAccessToken {
    try await answering {
      try TokenInput.checkAccessToken(request.accessToken)
      let claims: TokenClaims
      do {
        claims = try signer.verify(request.accessToken, type: Self.accessTokenType)
      } catch CryptoError.tokenExpired {
        throw UsersError.expiredAccessToken
      } catch {
        throw UsersError.invalidAccessToken
      }
      guard UserID.isValid(claims.subject) else { throw UsersError.invalidAccessToken }
      let email: String
      if let cached = emails.email(for: claims.subject) {
        email = cached
      } else {
        // Only after a restart or eviction: one read by primary key, then cached for good.
        guard let user = try await store.get(UserRecord.self, from: UsersStore.users, id: claims.subject) else {
          throw UsersError.invalidAccessToken
        }
        emails.remember(user.value.email, for: claims.subject)
        email = user.value.email
      }
      return Users.VerifiedAccessToken(
        userId: claims.subject, email: email, expiresAt: Self.timestamp(secondsSince1970: claims.expiresAt))
    }
  }

  public func getUser(_ request: Users.GetUserRequest, context: ServerContext) async throws -> Users.User {
    try await answering {
      try TokenInput.checkUserID(request.userId)
      guard let stored = try await store.get(UserRecord.self, from: UsersStore.users, id: request.userId) else {
        throw UsersError.userNotFound
      }
      return Self.user(stored.id, stored.value)
    }
  }

  // MARK: - Maintenance

  /// Deletes sessions, refresh tokens and login-throttle records whose expiry has passed, in
  /// small transactions; returns how many documents went. Run it now and then (hourly is
  /// plenty) from the executable. Nothing deleted is still usable; a used refresh token replayed
  /// after its own expiry then reads as unknown rather than as reuse (refused either way).
  @discardableResult
  public func purgeExpired() async throws -> Int {
    let now = clock.now
    var removed = 0
    for collection in [UsersStore.refreshTokens, UsersStore.sessions, UsersStore.loginThrottle] {
      while true {
        let batch = try await store.transaction { documents -> Int in
          let page = try documents.query(
            collection, where: [Field("expiresAt") < .date(now)], limit: Self.purgeBatchSize)
          for document in page.items {
            try documents.delete(collection, id: document.id, expectedVersion: document.version)
          }
          return page.items.count
        }
        removed += batch
        if batch < Self.purgeBatchSize { break }
      }
    }
    if removed > 0 { logger.info("purged expired user-session data", ["documents": String(removed)]) }
    return removed
  }

  /// Runs `purgeExpired` every `interval` until the calling task is cancelled (run it as a child
  /// task of the executable's service group). A failed purge is logged and tried again next time.
  public func purgeExpiredPeriodically(every interval: Duration) async {
    while !Task.isCancelled {
      do {
        try await purgeExpired()
      } catch {
        logger.warning("purging expired user-session data failed", ["error": String(describing: error)])
      }
      do { try await Task.sleep(for: interval) } catch { return }
    }
  }

  // MARK: - Helpers

  /// A new session with its first refresh token, and the pair to hand out.
  private func startSession(for userId: String, at now: Date) throws -> NewSession {
    let sessionId = SecureRandom.token(bytes: Self.idRandomBytes)
    let refreshToken = SecureRandom.token(bytes: Self.refreshTokenRandomBytes)
    let refreshExpiry = now.addingTimeInterval(configuration.refreshTokenLifetime.timeInterval)
    let access = try signer.issue(subject: userId, type: Self.accessTokenType)
    return NewSession(
      sessionId: sessionId,
      session: SessionRecord(userId: userId, createdAt: now, lastRefreshedAt: now, expiresAt: refreshExpiry),
      refreshTokenID: Self.refreshTokenID(refreshToken),
      refreshToken: RefreshTokenRecord(sessionId: sessionId, userId: userId, issuedAt: now, expiresAt: refreshExpiry),
      tokens: Users.TokenPair(
        accessToken: access.token, accessTokenExpiresAt: Self.timestamp(secondsSince1970: access.claims.expiresAt),
        refreshToken: refreshToken, refreshTokenExpiresAt: Timestamp(refreshExpiry)))
  }

  /// The document id of a refresh token: its SHA-256, so the database never holds one usable.
  static func refreshTokenID(_ token: String) -> String {
    Base64URL.encode(Digest.sha256(Array(token.utf8)))
  }

  static func timestamp(secondsSince1970 seconds: Int64) -> Timestamp {
    Timestamp(millisecondsSince1970: seconds * 1000)
  }

  static func user(_ id: String, _ record: UserRecord) -> Users.User {
    Users.User(userId: id, email: record.email, createdAt: Timestamp(record.createdAt))
  }

  /// Runs a handler body and turns whatever it throws into the `RPCError` the caller sees.
  /// Store and crypto failures are logged (their descriptions never hold document contents or
  /// secrets) and answered with a generic message.
  private func answering<Output>(_ body: () async throws -> Output) async throws -> Output {
    do {
      return try await body()
    } catch let error as UsersError {
      throw error.rpcError
    } catch let error as StoreError {
      logger.error("user store failed", ["error": error.description])
      switch error {
      case .busy, .closed, .io: throw UsersError.storageUnavailable.rpcError
      default: throw UsersError.internalFailure.rpcError
      }
    } catch let error as CryptoError {
      logger.error("cryptography failed", ["error": error.description])
      throw UsersError.internalFailure.rpcError
    } catch let error as RPCError {
      throw error
    } catch is CancellationError {
      throw RPCError(.cancelled, "the call was cancelled")
    } catch {
      logger.error("unexpected failure", ["error": String(describing: type(of: error))])
      throw UsersError.internalFailure.rpcError
    }
  }
}

/// A session about to be written, and the tokens that go back to the caller once it is.
private struct NewSession: Sendable {
  var sessionId: String
  var session: SessionRecord
  var refreshTokenID: String
  var refreshToken: RefreshTokenRecord
  var tokens: Users.TokenPair

  func write(to documents: any DocumentTransaction) throws {
    try documents.insert(session, into: UsersStore.sessions, id: sessionId)
    try documents.insert(refreshToken, into: UsersStore.refreshTokens, id: refreshTokenID)
  }
}

/// What a refresh transaction decided, and about whom (for the access token and the log).
private struct RefreshOutcome: Sendable {
  var decision: RefreshDecision
  var userId = ""
  var sessionId = ""
}

extension Optional where Wrapped: Sendable {
  fileprivate func asyncFlatMap<Result>(_ transform: (Wrapped) async throws -> Result?) async rethrows -> Result? {
    guard let value = self else { return nil }
    return try await transform(value)
  }
}
