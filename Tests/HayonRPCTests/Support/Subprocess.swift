import Foundation
import HayonTestSupport

/// The repository root, found from this file's location (`Tests/HayonRPCTests/Support/`).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent()  // Support
  .deletingLastPathComponent()  // HayonRPCTests
  .deletingLastPathComponent()  // Tests
  .deletingLastPathComponent()

/// The Python interpreter of the interop virtualenv: `$HAYON_TEST_PYTHON`, else `<repo>/.venv/bin/python`
/// (created by `scripts/setup-python-test-env.sh`).
var testPythonPath: String {
  if let path = ProcessInfo.processInfo.environment["HAYON_TEST_PYTHON"], !path.isEmpty { return path }
  return repositoryRoot.appendingPathComponent(".venv/bin/python").path
}

/// A file under `Tests/Interop/`.
func interopScript(_ name: String) -> String {
  repositoryRoot.appendingPathComponent("Tests/Interop").appendingPathComponent(name).path
}

/// Runs `body` with a fresh temporary directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
  let directory = FileManager.default.temporaryDirectory
    .appendingPathComponent("hayon-test-\(UUID().uuidString)", isDirectory: true)
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: directory) }
  return try await body(directory)
}

/// What `curl` reported for one gRPC-shaped request.
struct CurlResponse: Sendable {
  var result: ProcessResult
  /// `-D` output: the response header block and, for HTTP/2, the trailers after it.
  var headerText: String
  var body: Data
  /// The `-w` output: `"<http_code> <http_version>"`.
  var writeOut: String

  /// Header and trailer lines, lower-cased, without CR.
  var headerLines: [String] {
    headerText.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
  }
  var httpCode: String { String(writeOut.split(separator: " ").first ?? "") }
  var httpVersion: String { String(writeOut.split(separator: " ").dropFirst().first ?? "") }
}

/// POSTs `body` (already gRPC-framed, or not) with `curl`, dumping headers and trailers with
/// `-D`. `arguments` picks the protocol (`--http2-prior-knowledge`, or `--http2 --cacert …`).
///
/// curl 7.88 (Debian 12) sends HEADERS and DATA in separate writes. When the server refuses a
/// call from its headers alone (415, trailers-only UNAUTHENTICATED) it answers at once and then,
/// as RFC 9113 §8.1 allows, sends RST_STREAM(NO_ERROR) because the request body is still
/// outstanding. If that reset lands in the same read as the response, curl 7.88 drops the
/// buffered response and exits 92 ("stream 1 closed" with no response headers). That is a curl
/// quirk, not a server fault, so such attempts are retried (a few times, at most).
func curlPOST(
  url: String, body: [UInt8], headers: [String], arguments: [String], timeout: Duration = .seconds(30)
) async throws -> CurlResponse {
  var attempt = 1
  while true {
    let response = try await curlPOSTOnce(url: url, body: body, headers: headers, arguments: arguments, timeout: timeout)
    let droppedEarlyResponse = response.result.status == 92 && !response.result.timedOut
      && !response.result.terminatedBySignal && response.headerText.isEmpty
    if !droppedEarlyResponse || attempt == 5 { return response }
    attempt += 1
  }
}

private func curlPOSTOnce(
  url: String, body: [UInt8], headers: [String], arguments: [String], timeout: Duration
) async throws -> CurlResponse {
  try await withTemporaryDirectory { directory in
    let bodyFile = directory.appendingPathComponent("request.bin")
    let headerFile = directory.appendingPathComponent("headers.txt")
    let outputFile = directory.appendingPathComponent("response.bin")
    try Data(body).write(to: bodyFile)
    var command = ["-sS", "--max-time", "20", "-X", "POST"] + arguments
    for header in headers { command += ["-H", header] }
    command += [
      "--data-binary", "@\(bodyFile.path)", "-D", headerFile.path, "-o", outputFile.path,
      "-w", "%{http_code} %{http_version}", url,
    ]
    let result = try await runProcess("curl", command, timeout: timeout)
    return CurlResponse(
      result: result,
      headerText: (try? String(contentsOf: headerFile, encoding: .utf8)) ?? "",
      body: (try? Data(contentsOf: outputFile)) ?? Data(),
      writeOut: result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
  }
}
