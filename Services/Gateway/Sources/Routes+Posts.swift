import HayonHTTP1
import HayonModel
import HayonPublish
import HayonRPC
import HayonUsers

/// `POST /api/posts`.
struct CreatePostBody: Codable, Sendable {
  var text: String
  var overrides: [String: String]?
  var platforms: [Platform]
  var scheduledAt: String?
  var timeZone: String?
}

/// `PATCH /api/posts/{id}`.
struct UpdatePostBody: Codable, Sendable {
  var text: String?
  var overrides: [String: String]?
  var platforms: [Platform]?
  var scheduledAt: String?
  var publishNow: Bool?
  var timeZone: String?
}

/// `POST /api/posts/{id}/cancel` and `/retry` (the body is optional).
struct PlatformsBody: Codable, Sendable {
  var platforms: [Platform]?
}

extension RequestContext {
  var posts: Posts.Client {
    get throws(APIError) {
      guard let posts = gateway.backends.posts else {
        throw APIError(status: 503, code: "unavailable", message: "posts are not available: publish-service is not configured")
      }
      return posts
    }
  }

  /// `{id}`: 1…64 of `[A-Za-z0-9_-]`; anything else cannot name a post (404, like a missing one).
  func postId() throws(APIError) -> String {
    let id = parameter("id")
    guard !id.isEmpty, id.utf8.count <= Posts.Limits.postIdLength,
      id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x5F || $0 == 0x2D })
    else { throw .notFound("no such post") }
    return id
  }

  func checkText(_ text: String?, field: String) throws(APIError) {
    guard let text else { return }
    guard text.utf8.count <= Posts.Limits.textBytes else {
      throw .badRequest("\(field) is longer than \(Posts.Limits.textBytes) bytes")
    }
  }

  func checkPostFields(
    text: String?, overrides: [String: String]?, platforms: [Platform]?, scheduledAt: String?, timeZone: String?
  ) throws(APIError) {
    try checkText(text, field: "text")
    if let overrides {
      guard overrides.count <= Platform.allCases.count else { throw .badRequest("overrides has more entries than there are platforms") }
      for (key, value) in overrides {
        guard Platform(rawValue: key) != nil else { throw .badRequest("overrides: '\(Gateway.quoted(key))' is not a platform") }
        try checkText(value, field: "overrides.\(key)")
      }
    }
    if let platforms, platforms.count > Platform.allCases.count {
      throw .badRequest("platforms lists more than \(Platform.allCases.count) platforms")
    }
    if let scheduledAt, scheduledAt.utf8.count > 64 { throw .badRequest("scheduledAt is longer than 64 characters") }
    if let timeZone, timeZone.utf8.count > Posts.Limits.timeZoneLength {
      throw .badRequest("timeZone is longer than \(Posts.Limits.timeZoneLength) characters")
    }
  }

  /// `Idempotency-Key`: a retried create with the same key returns the first post.
  func idempotencyKey() throws(APIError) -> String? {
    let values = request.headers.values("idempotency-key")
    guard let key = values.first else { return nil }
    guard values.count == 1, !key.isEmpty, key.utf8.count <= Posts.Limits.requestIdLength,
      key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
    else {
      throw .badRequest("Idempotency-Key must be one header of 1 to \(Posts.Limits.requestIdLength) visible ASCII characters")
    }
    return key
  }

  func optionalPlatformsBody() throws(APIError) -> [Platform]? {
    guard !request.body.isEmpty else { return nil }
    let body = try decodeJSON(PlatformsBody.self)
    if let platforms = body.platforms, platforms.count > Platform.allCases.count {
      throw .badRequest("platforms lists more than \(Platform.allCases.count) platforms")
    }
    return body.platforms
  }

  func single(_ name: String) throws(APIError) -> String? {
    let values = request.query.values(name)
    guard values.count <= 1 else { throw .badRequest("give '\(name)' at most once") }
    return values.first
  }
}

extension Gateway {
  private static let postIdParameter = ["id": "The post's id."]
  /// The errors every posts route may answer.
  private static let postErrors = [400, 401, 500, 503, 504]

  static func registerPostRoutes(_ router: inout Router) {
    router.add(
      "POST", "/api/posts",
      RouteSpec(
        operationId: "createPost", summary: "Create a post for some of the user's connected platforms, now or scheduled.",
        tag: "posts", auth: .bearer, requestBody: .json(schema: "CreatePostRequest"),
        responses: [ResponseSpec(201, "The post.", .json(schema: "Post"))], errors: postErrors + [409, 413, 415, 429])
    ) { context throws(APIError) in
      let body = try context.decodeJSON(CreatePostBody.self)
      try context.checkPostFields(
        text: body.text, overrides: body.overrides, platforms: body.platforms, scheduledAt: body.scheduledAt,
        timeZone: body.timeZone)
      let key = try context.idempotencyKey()
      let user = try await context.authenticatedUser()
      let posts = try context.posts
      let post = try await context.call { () async throws(RPCError) in
        try await posts.createPost(
          .init(
            userId: user.userId, text: body.text, overrides: body.overrides, platforms: body.platforms,
            scheduledAt: body.scheduledAt, timeZone: body.timeZone, requestId: key), options: context.callOptions)
      }
      return .json(post, status: 201)
    }

    router.add(
      "GET", "/api/posts",
      RouteSpec(
        operationId: "listPosts", summary: "The user's posts, newest first, a page at a time.", tag: "posts",
        auth: .bearer,
        query: [
          QueryParameter("status", "Only posts with this status.", enumValues: Posts.PostStatus.allCases.map(\.rawValue)),
          QueryParameter("pageSize", "1 to \(Posts.Limits.maximumPageSize) (default \(Posts.Limits.defaultPageSize)).", maxLength: 3),
          QueryParameter("pageToken", "nextPageToken of the previous page.", maxLength: 512),
        ],
        responses: [ResponseSpec(200, "A page of posts.", .json(schema: "PostPage"))], errors: postErrors)
    ) { context throws(APIError) in
      try context.expectNoBody()
      var status: Posts.PostStatus?
      if let text = try context.single("status") {
        guard let parsed = Posts.PostStatus(rawValue: text) else {
          throw .badRequest("status must be one of \(Posts.PostStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        status = parsed
      }
      var pageSize: Int?
      if let text = try context.single("pageSize") {
        guard text.utf8.count <= 3, let size = Int(text), (1...Posts.Limits.maximumPageSize).contains(size) else {
          throw .badRequest("pageSize must be a number from 1 to \(Posts.Limits.maximumPageSize)")
        }
        pageSize = size
      }
      let pageToken = try context.single("pageToken")
      if let pageToken, pageToken.isEmpty || pageToken.utf8.count > 512 {
        throw .badRequest("pageToken must be 1 to 512 characters")
      }
      let user = try await context.authenticatedUser()
      let posts = try context.posts
      let page = try await context.call { () async throws(RPCError) in
        try await posts.listPosts(
          .init(userId: user.userId, status: status, pageSize: pageSize, pageToken: pageToken), options: context.callOptions)
      }
      return .json(page)
    }

    router.add(
      "GET", "/api/posts/{id}",
      RouteSpec(
        operationId: "getPost", summary: "One post (someone else's answers 404).", tag: "posts", auth: .bearer,
        pathParameters: postIdParameter, responses: [ResponseSpec(200, "The post.", .json(schema: "Post"))],
        errors: postErrors + [404])
    ) { context throws(APIError) in
      try context.expectNoBody()
      let id = try context.postId()
      let user = try await context.authenticatedUser()
      let posts = try context.posts
      return .json(
        try await context.call { () async throws(RPCError) in
          try await posts.getPost(.init(userId: user.userId, postId: id), options: context.callOptions)
        })
    }

    router.add(
      "PATCH", "/api/posts/{id}",
      RouteSpec(
        operationId: "updatePost", summary: "Edit or reschedule a post none of whose targets has started publishing.",
        tag: "posts", auth: .bearer, pathParameters: postIdParameter, requestBody: .json(schema: "UpdatePostRequest"),
        responses: [ResponseSpec(200, "The post.", .json(schema: "Post"))], errors: postErrors + [404, 409, 413, 415])
    ) { context throws(APIError) in
      let id = try context.postId()
      let body = try context.decodeJSON(UpdatePostBody.self)
      try context.checkPostFields(
        text: body.text, overrides: body.overrides, platforms: body.platforms, scheduledAt: body.scheduledAt,
        timeZone: body.timeZone)
      let user = try await context.authenticatedUser()
      let posts = try context.posts
      return .json(
        try await context.call { () async throws(RPCError) in
          try await posts.updatePost(
            .init(
              userId: user.userId, postId: id, text: body.text, overrides: body.overrides, platforms: body.platforms,
              scheduledAt: body.scheduledAt, publishNow: body.publishNow, timeZone: body.timeZone),
            options: context.callOptions)
        })
    }

    registerTargetsAction(
      &router, "cancel", operationId: "cancelPost",
      summary: "Cancel the targets not yet published (all, or the platforms named)."
    ) { posts, userId, postId, platforms, options throws(RPCError) in
      try await posts.cancelPost(.init(userId: userId, postId: postId, platforms: platforms), options: options)
    }

    registerTargetsAction(
      &router, "retry", operationId: "retryPost", summary: "Retry failed or unknown targets (all, or the platforms named)."
    ) { posts, userId, postId, platforms, options throws(RPCError) in
      try await posts.retryPost(.init(userId: userId, postId: postId, platforms: platforms), options: options)
    }
  }

  /// `POST /api/posts/{id}/<action>` with an optional `{"platforms": [...]}` body, answered with
  /// the post: cancel and retry take the same input, checks and answer, and differ only in the RPC.
  private static func registerTargetsAction(
    _ router: inout Router, _ action: String, operationId: String, summary: String,
    rpc: @escaping @Sendable (
      _ posts: Posts.Client, _ userId: String, _ postId: String, _ platforms: [Platform]?, _ options: CallOptions
    ) async throws(RPCError) -> Posts.Post
  ) {
    router.add(
      "POST", "/api/posts/{id}/\(action)",
      RouteSpec(
        operationId: operationId, summary: summary, tag: "posts", auth: .bearer, pathParameters: postIdParameter,
        requestBody: .json(schema: "PlatformsRequest"), responses: [ResponseSpec(200, "The post.", .json(schema: "Post"))],
        errors: postErrors + [404, 409, 413, 415])
    ) { context throws(APIError) in
      let id = try context.postId()
      let platforms = try context.optionalPlatformsBody()
      let user = try await context.authenticatedUser()
      let posts = try context.posts
      return .json(
        try await context.call { () async throws(RPCError) in
          try await rpc(posts, user.userId, id, platforms, context.callOptions)
        })
    }
  }
}

extension OpenAPIDocument {
  static var postSchemas: [(String, JSONValue)] {
    let platformList: JSONValue = ["type": "array", "items": platformEnum, "maxItems": .number(Platform.allCases.count)]
    let overrides: JSONValue = [
      "type": "object", "description": "Platform name → text for that platform.",
      "additionalProperties": ["type": "string", "maxLength": .number(Posts.Limits.textBytes)],
    ]
    return [
      ("OpenAPIDocument", ["type": "object", "description": "An OpenAPI 3.1 document."]),
      (
        "CreatePostRequest",
        object(
          [
            ("text", string(maxLength: Posts.Limits.textBytes)), ("overrides", overrides), ("platforms", platformList),
            ("scheduledAt", string("ISO 8601 with a UTC offset, in the future; absent means now.", maxLength: 64)),
            ("timeZone", string("IANA zone, for display.", maxLength: Posts.Limits.timeZoneLength)),
          ], required: ["text", "platforms"])
      ),
      (
        "UpdatePostRequest",
        object(
          [
            ("text", string(maxLength: Posts.Limits.textBytes)), ("overrides", overrides), ("platforms", platformList),
            ("scheduledAt", string(maxLength: 64)), ("publishNow", ["type": "boolean"]),
            ("timeZone", string(maxLength: Posts.Limits.timeZoneLength)),
          ], required: [])
      ),
      ("PlatformsRequest", object([("platforms", platformList)], required: [], description: "Optional; absent means all.")),
      (
        "PostTarget",
        object(
          [
            ("platform", platformEnum),
            ("state", ["type": "string", "enum": .array(Posts.TargetState.allCases.map { .string($0.rawValue) })]),
            ("attempts", ["type": "integer", "minimum": 0]), ("platformPostId", string()), ("url", string(format: "uri")),
            ("lastError", string()), ("nextAttemptAt", timestamp), ("publishedAt", timestamp), ("updatedAt", timestamp),
          ], required: ["platform", "state", "attempts", "updatedAt"])
      ),
      (
        "Post",
        object(
          [
            ("id", string()), ("userId", string()), ("text", string()), ("overrides", overrides),
            ("scheduledAt", timestamp), ("timeZone", string()), ("scheduledAtLocal", string()),
            ("status", ["type": "string", "enum": .array(Posts.PostStatus.allCases.map { .string($0.rawValue) })]),
            ("targets", ["type": "array", "items": ref("PostTarget")]), ("createdAt", timestamp), ("updatedAt", timestamp),
          ], required: ["id", "userId", "text", "overrides", "scheduledAt", "status", "targets", "createdAt", "updatedAt"])
      ),
      (
        "PostPage",
        object([("posts", ["type": "array", "items": ref("Post")]), ("nextPageToken", string())], required: ["posts"])
      ),
    ]
  }
}
