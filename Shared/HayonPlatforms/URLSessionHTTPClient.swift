import Foundation
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `PlatformHTTPClient` over Foundation's `URLSession` (libcurl on Linux): HTTPS with the
/// system's trust store, HTTP/2 where the platform offers it, connection reuse.
///
/// Every task is delegate-driven rather than completion-handler-driven, because on Linux only a
/// delegate is asked about redirects: a platform endpoint that redirects is answered as is,
/// never followed (an OAuth token endpoint must not be able to bounce credentials elsewhere).
/// Bodies beyond `maximumResponseBytes` cancel the task.
public final class URLSessionHTTPClient: PlatformHTTPClient {
  public static let defaultMaximumResponseBytes = 1 << 20

  private let session: URLSession
  private let tasks: TaskTable
  private let maximumResponseBytes: Int

  /// - Parameter maximumConnectionsPerHost: parallel connections to one platform host (a
  ///   publisher fanning out to one instance needs more than a sign-in flow).
  public init(maximumResponseBytes: Int = URLSessionHTTPClient.defaultMaximumResponseBytes, maximumConnectionsPerHost: Int = 8) {
    self.maximumResponseBytes = maximumResponseBytes
    (session, tasks) = Self.makeSession(maximumResponseBytes: maximumResponseBytes, maximumConnectionsPerHost: maximumConnectionsPerHost)
  }

  deinit { session.invalidateAndCancel() }

  private static func makeSession(maximumResponseBytes: Int, maximumConnectionsPerHost: Int) -> (URLSession, TaskTable) {
    let configuration = URLSessionConfiguration.ephemeral
    configuration.httpCookieAcceptPolicy = .never
    configuration.httpShouldSetCookies = false
    configuration.urlCache = nil
    configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
    configuration.httpMaximumConnectionsPerHost = max(1, maximumConnectionsPerHost)
    let table = TaskTable(maximumResponseBytes: maximumResponseBytes)
    let queue = OperationQueue()
    queue.maxConcurrentOperationCount = 1
    return (URLSession(configuration: configuration, delegate: table, delegateQueue: queue), table)
  }

  public func send(_ request: PlatformHTTPRequest) async throws(PlatformTransportError) -> PlatformHTTPResponse {
    guard request.mustNotRepeat else { return try await send(request, on: session, tasks: tasks) }
    // libcurl re-sends a request on a new connection when the kept-alive one it reused dies
    // before answering. For a request that must not be repeated (creating a post) that would be
    // a second post, so it gets a connection of its own, closed after the answer.
    let (oneOff, oneOffTasks) = Self.makeSession(maximumResponseBytes: maximumResponseBytes, maximumConnectionsPerHost: 1)
    defer { oneOff.finishTasksAndInvalidate() }
    var closing = request
    closing.headers.append(("Connection", "close"))
    return try await send(closing, on: oneOff, tasks: oneOffTasks)
  }

  private func send(
    _ request: PlatformHTTPRequest, on session: URLSession, tasks: TaskTable
  ) async throws(PlatformTransportError) -> PlatformHTTPResponse {
    var urlRequest = URLRequest(url: request.url)
    urlRequest.httpMethod = request.method
    urlRequest.timeoutInterval = max(1, Double(request.timeout.components.seconds))
    for header in request.headers { urlRequest.addValue(header.value, forHTTPHeaderField: header.name) }
    if let body = request.body { urlRequest.httpBody = body }
    let task = session.dataTask(with: urlRequest)
    let result: Result<PlatformHTTPResponse, PlatformTransportError> = await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        tasks.begin(task.taskIdentifier, continuation)
        task.resume()
      }
    } onCancel: {
      task.cancel()
    }
    return try result.get()
  }
}

/// The delegate: per task, the response head, the body so far and who waits for it.
private final class TaskTable: NSObject, URLSessionDataDelegate, Sendable {
  typealias Waiter = CheckedContinuation<Result<PlatformHTTPResponse, PlatformTransportError>, Never>

  struct Pending {
    var waiter: Waiter
    var status = 0
    var headers: [String: String] = [:]
    var body = Data()
    var tooLarge = false
  }

  let maximumResponseBytes: Int
  private let pending = Mutex<[Int: Pending]>([:])

  init(maximumResponseBytes: Int) {
    self.maximumResponseBytes = maximumResponseBytes
  }

  func begin(_ id: Int, _ waiter: Waiter) {
    pending.withLock { $0[id] = Pending(waiter: waiter) }
  }

  func urlSession(
    _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void
  ) {
    if let http = response as? HTTPURLResponse {
      var headers: [String: String] = [:]
      for (name, value) in http.allHeaderFields {
        if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
      }
      pending.withLock { table in
        table[dataTask.taskIdentifier]?.status = http.statusCode
        table[dataTask.taskIdentifier]?.headers = headers
      }
    }
    completionHandler(.allow)
  }

  func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
    let overflow = pending.withLock { table -> Bool in
      guard var entry = table[dataTask.taskIdentifier] else { return false }
      if entry.body.count + data.count > maximumResponseBytes {
        entry.tooLarge = true
        table[dataTask.taskIdentifier] = entry
        return true
      }
      entry.body.append(data)
      table[dataTask.taskIdentifier] = entry
      return false
    }
    if overflow { dataTask.cancel() }
  }

  func urlSession(
    _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
  ) {
    completionHandler(nil)
  }

  func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
    guard let entry = pending.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
    if entry.tooLarge {
      entry.waiter.resume(returning: .failure(.responseTooLarge(limit: maximumResponseBytes)))
    } else if let error {
      entry.waiter.resume(returning: .failure(Self.classify(error)))
    } else if entry.status == 0 {
      entry.waiter.resume(returning: .failure(.noResponse("the response had no HTTP status")))
    } else {
      entry.waiter.resume(returning: .success(PlatformHTTPResponse(status: entry.status, headers: entry.headers, body: entry.body)))
    }
  }

  /// Failures before anything was sent versus after (see `PlatformTransportError`). A timeout is
  /// counted as "maybe sent": the request may have left before the clock ran out.
  static func classify(_ error: any Error) -> PlatformTransportError {
    guard let urlError = error as? URLError else { return .noResponse("\(type(of: error))") }
    switch urlError.code {
    case .cannotFindHost, .dnsLookupFailed, .cannotConnectToHost, .notConnectedToInternet, .badURL, .unsupportedURL,
      .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
      .serverCertificateHasUnknownRoot, .clientCertificateRejected, .appTransportSecurityRequiresSecureConnection:
      return .notSent(describe(urlError.code))
    case .cancelled:
      return .noResponse("cancelled")
    default:
      return .noResponse(describe(urlError.code))
    }
  }

  private static func describe(_ code: URLError.Code) -> String {
    switch code {
    case .cannotFindHost, .dnsLookupFailed: "the host name could not be resolved"
    case .cannotConnectToHost: "the connection was refused"
    case .notConnectedToInternet: "no network"
    case .timedOut: "timed out"
    case .networkConnectionLost: "the connection was lost"
    case .badServerResponse: "the server closed the connection without a valid answer"
    case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
      .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot, .clientCertificateRejected:
      "the TLS handshake failed"
    default: "network error \(code.rawValue)"
    }
  }
}
