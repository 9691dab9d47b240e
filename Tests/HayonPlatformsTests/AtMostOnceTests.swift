import Foundation
import HayonCrypto
import HayonModel
import PlatformSandbox
import Testing

@testable import HayonPlatforms

/// A create-post request must reach the platform at most once. libcurl (under URLSession)
/// silently re-sends a request whose *reused* connection dies before any answer; for a post
/// that would be a second post. These tests warm a connection, then lose the create's answer.
@Suite("Create-post calls are sent at most once", .serialized)
struct AtMostOnceTests {
  @Test func aLostBlueskyAnswerOnAWarmConnectionIsUnknownAndPostedOnce() async throws {
    let sandbox = try await PlatformSandbox.start()
    let pds = try #require(URL(string: sandbox.baseURL))
    let did = sandbox.bluesky.addAccount(handle: "once.bsky.social", password: "abcd-efgh-ijkl-mnop")
    let http = URLSessionHTTPClient()
    let client = BlueskyClient(http: http, clock: SystemWallClock())
    do {
      // The session and profile calls leave a kept-alive connection in the client's pool.
      let session = try await client.createSession(pds: pds, identifier: "once.bsky.social", password: "abcd-efgh-ijkl-mnop")
      _ = try await client.getProfile(pds: pds, accessJwt: session.accessJwt, actor: did)
      sandbox.dropResponseNext(1, pathPrefix: "/xrpc/com.atproto.repo.createRecord")
      do {
        _ = try await client.createPost(
          pds: pds, accessJwt: session.accessJwt, repo: did, text: "only once", facets: [], createdAt: Date(), timeout: .seconds(5))
        Issue.record("the lost answer was not reported")
      } catch {
        #expect(error.classification == .unknownOutcome, "\(error)")
        // Reported from the closed connection itself, not after waiting out the time limit.
        #expect(error.message?.contains("timed out") == false, "\(error)")
      }
      #expect(sandbox.requests().filter { $0.path == "/xrpc/com.atproto.repo.createRecord" }.count == 1)
      #expect(sandbox.bluesky.posts(did: did).count == 1)
    }
    await sandbox.shutdown()
  }

  @Test func aLostMastodonAnswerOnAWarmConnectionIsUnknownAndSentOnce() async throws {
    let sandbox = try await PlatformSandbox.start()
    let instance = try #require(URL(string: sandbox.baseURL))
    let accountId = sandbox.mastodon.addAccount(username: "once")
    let http = URLSessionHTTPClient()
    let client = MastodonClient(http: http, clock: SystemWallClock())
    do {
      let app = try await client.registerApp(
        instance: instance, clientName: "Hayon", redirectUri: "http://127.0.0.1:9/callback", website: nil)
      // Authorize and exchange by hand, keeping the client's connection warm.
      let verifier = PKCE.makeVerifier()
      let authorize = client.authorizeURL(
        instance: instance, app: app, state: "s", codeChallenge: try PKCE.challenge(forVerifier: verifier))
      let redirect = try await http.send(PlatformHTTPRequest(method: "GET", url: authorize))
      let location = try #require(redirect.header("location"))
      let code = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "code" }?.value)
      let token = try await client.exchangeCode(instance: instance, app: app, code: code, codeVerifier: verifier)
      sandbox.dropResponseNext(1, pathPrefix: "/api/v1/statuses")
      do {
        _ = try await client.postStatus(
          instance: instance, accessToken: token, status: "only once", idempotencyKey: "k-1", timeout: .seconds(5))
        Issue.record("the lost answer was not reported")
      } catch {
        #expect(error.classification == .unknownOutcome, "\(error)")
        // Reported from the closed connection itself, not after waiting out the time limit.
        #expect(error.message?.contains("timed out") == false, "\(error)")
      }
      #expect(sandbox.requests().filter { $0.path == "/api/v1/statuses" }.count == 1)
      #expect(sandbox.mastodon.statuses(accountId: accountId).count == 1)
    }
    await sandbox.shutdown()
  }
}
