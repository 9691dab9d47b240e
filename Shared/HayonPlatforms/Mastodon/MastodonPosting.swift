public import Foundation
import HayonCrypto
import HayonModel

/// A status as `POST /api/v1/statuses` returned it.
public struct MastodonStatus: Sendable, Hashable {
  public var id: String
  public var url: String?
}

extension MastodonClient {
  struct StatusBody: Decodable {
    var id: String
    var url: String?
    var uri: String?
  }

  struct InstanceBody: Decodable {
    struct Configuration: Decodable {
      struct Statuses: Decodable {
        var max_characters: Int?
      }
      var statuses: Statuses?
    }
    var configuration: Configuration?
  }

  /// `POST /api/v1/statuses` with `Idempotency-Key`: the instance remembers the key for an hour
  /// and answers a repeat with the status it already made. Still, a request that may have been
  /// received without an answer is `unknownOutcome`: the caller decides, not this client.
  public func postStatus(
    instance: URL, accessToken: String, status: String, idempotencyKey: String, visibility: String? = nil,
    timeout: Duration = .seconds(15)
  ) async throws(PlatformError) -> MastodonStatus {
    var fields = [("status", status)]
    if let visibility { fields.append(("visibility", visibility)) }
    var request = PlatformHTTPRequest.form(
      "POST", instance.appendingPathComponent("api/v1/statuses"), fields: fields,
      headers: [("Authorization", "Bearer \(accessToken)"), ("Idempotency-Key", idempotencyKey)])
    request.timeout = timeout
    request.mustNotRepeat = true
    let response = try await send(request, usedToken: true)
    guard let body = try? JSONDecoder().decode(StatusBody.self, from: response.body), !body.id.isEmpty else {
      throw PlatformError(
        platform: .mastodon, classification: .unknownOutcome, status: response.status, name: nil,
        message: "the status answer could not be read")
    }
    return MastodonStatus(id: body.id, url: body.url ?? body.uri)
  }

  /// `configuration.statuses.max_characters` from `GET /api/v2/instance`; nil when the instance
  /// does not say (callers then use Mastodon's default, 500).
  public func maxCharacters(instance: URL) async throws(PlatformError) -> Int? {
    let request = PlatformHTTPRequest(method: "GET", url: instance.appendingPathComponent("api/v2/instance"), timeout: .seconds(5))
    let response = try await send(request, usedToken: false)
    guard let body = try? JSONDecoder().decode(InstanceBody.self, from: response.body),
      let value = body.configuration?.statuses?.max_characters, value > 0, value <= 1_000_000
    else { return nil }
    return value
  }
}
