public import Foundation
import HayonCrypto
import HayonModel

/// An `app.bsky.richtext.facet`: a UTF-8 byte range of the post text and what it means
/// (platforms.md §1.6). Offsets are bytes, start inclusive, end exclusive.
public struct BlueskyFacet: Sendable, Hashable, Encodable {
  public enum Feature: Sendable, Hashable, Encodable {
    case link(uri: String)
    case mention(did: String)
    case tag(String)

    private enum CodingKeys: String, CodingKey {
      case type = "$type"
      case uri, did, tag
    }

    public func encode(to encoder: any Encoder) throws {
      var container = encoder.container(keyedBy: CodingKeys.self)
      switch self {
      case .link(let uri):
        try container.encode("app.bsky.richtext.facet#link", forKey: .type)
        try container.encode(uri, forKey: .uri)
      case .mention(let did):
        try container.encode("app.bsky.richtext.facet#mention", forKey: .type)
        try container.encode(did, forKey: .did)
      case .tag(let tag):
        try container.encode("app.bsky.richtext.facet#tag", forKey: .type)
        try container.encode(tag, forKey: .tag)
      }
    }
  }

  public struct Index: Sendable, Hashable, Encodable {
    public var byteStart: Int
    public var byteEnd: Int
  }

  public var index: Index
  public var features: [Feature]

  public init(byteStart: Int, byteEnd: Int, feature: Feature) {
    index = Index(byteStart: byteStart, byteEnd: byteEnd)
    features = [feature]
  }
}

/// What `createRecord` answered: the record's `at://` URI and content id.
public struct BlueskyCreatedRecord: Sendable, Hashable {
  public var uri: String
  public var cid: String

  /// The post's page on bsky.app: `https://bsky.app/profile/<did>/post/<rkey>`.
  public var webURL: String? {
    // at://did:plc:xyz/app.bsky.feed.post/3k...
    guard uri.hasPrefix("at://") else { return nil }
    let parts = uri.dropFirst("at://".count).split(separator: "/")
    guard parts.count == 3, parts[1] == "app.bsky.feed.post" else { return nil }
    return "https://bsky.app/profile/\(parts[0])/post/\(parts[2])"
  }
}

extension BlueskyClient {
  struct PostRecord: Encodable {
    var type = "app.bsky.feed.post"
    var text: String
    var createdAt: String
    var facets: [BlueskyFacet]?
    var langs: [String]?

    enum CodingKeys: String, CodingKey {
      case type = "$type"
      case text, createdAt, facets, langs
    }
  }

  struct CreateRecordBody: Encodable {
    var repo: String
    var collection = "app.bsky.feed.post"
    var record: PostRecord
  }

  struct CreatedBody: Decodable {
    var uri: String
    var cid: String
  }

  struct ResolvedHandle: Decodable {
    var did: String
  }

  /// `com.atproto.repo.createRecord` with an `app.bsky.feed.post` record. Not idempotent: a
  /// request that may have been received without an answer is `unknownOutcome`, never retried
  /// here. `ExpiredToken` is `accessExpired` (refresh the session, then try once more).
  public func createPost(
    pds: URL, accessJwt: String, repo: String, text: String, facets: [BlueskyFacet], createdAt: Date,
    langs: [String]? = nil, timeout: Duration = .seconds(15)
  ) async throws(PlatformError) -> BlueskyCreatedRecord {
    let record = PostRecord(
      text: text, createdAt: Timestamp(createdAt).iso8601, facets: facets.isEmpty ? nil : facets, langs: langs)
    let request: PlatformHTTPRequest
    do {
      request = try .json(
        "POST", endpoint(pds, "com.atproto.repo.createRecord"), body: CreateRecordBody(repo: repo, record: record),
        headers: [("Authorization", "Bearer \(accessJwt)")])
    } catch {
      throw PlatformError(platform: .bluesky, classification: .rejected, status: nil, name: nil, message: "could not encode the post")
    }
    var timed = request
    timed.timeout = timeout
    timed.mustNotRepeat = true
    let response = try await send(timed, token: .access)
    guard let body = try? JSONDecoder().decode(CreatedBody.self, from: response.body), body.uri.hasPrefix("at://") else {
      // The record exists (2xx) but the answer cannot be read: re-posting could double it.
      throw PlatformError(
        platform: .bluesky, classification: .unknownOutcome, status: response.status, name: nil,
        message: "the createRecord answer could not be read")
    }
    return BlueskyCreatedRecord(uri: body.uri, cid: body.cid)
  }

  /// `com.atproto.identity.resolveHandle`: the DID of `handle`, or nil when the PDS cannot
  /// resolve it (an unknown handle is not an error for a post: the text just stays plain).
  public func resolveHandle(pds: URL, handle: String) async throws(PlatformError) -> String? {
    var components = URLComponents(url: endpoint(pds, "com.atproto.identity.resolveHandle"), resolvingAgainstBaseURL: false)!
    components.percentEncodedQueryItems = [URLQueryItem(name: "handle", value: FormEncoding.percentEncode(handle))]
    let request = PlatformHTTPRequest(method: "GET", url: components.url!, timeout: .seconds(5))
    let response: PlatformHTTPResponse
    do {
      response = try await send(request, token: .none)
    } catch where error.status == 400 {
      return nil
    }
    guard let body = try? JSONDecoder().decode(ResolvedHandle.self, from: response.body), body.did.hasPrefix("did:") else {
      return nil
    }
    return body.did
  }
}
