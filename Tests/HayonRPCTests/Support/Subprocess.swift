import Foundation
import HayonTestSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

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

/// A long-running child process with stdin as a pipe (closing it is the child's cue to exit)
/// and stdout/stderr collected as they arrive, so the caller can wait for a line.
final class ChildProcess: @unchecked Sendable {
  // @unchecked: `process` and the pipes are configured before `run()` and only read afterwards;
  // the collected output is behind a Mutex.
  private struct Output {
    var stdout = Data()
    var stderr = Data()
    var stdoutClosed = false
  }

  /// Shared with the pipes' readability handlers (which must not retain the child).
  private final class OutputBox: Sendable {
    let state = Mutex(Output())
  }

  let command: [String]
  private let process = Process()
  private let stdinPipe = Pipe()
  private let stdoutPipe = Pipe()
  private let stderrPipe = Pipe()
  private let outputBox = OutputBox()
  private let stopped = Mutex(false)

  init(_ executable: String, _ arguments: [String]) throws {
    let url = try resolveExecutable(executable)
    command = [url.path] + arguments
    process.executableURL = url
    process.arguments = arguments
    process.standardInput = stdinPipe
    process.standardOutput = stdoutPipe
    process.standardError = stderrPipe
    let output = self.outputBox
    stdoutPipe.fileHandleForReading.readabilityHandler = { handle in
      let data = handle.availableData
      if data.isEmpty {
        handle.readabilityHandler = nil
        output.state.withLock { $0.stdoutClosed = true }
      } else {
        output.state.withLock { $0.stdout.append(data) }
      }
    }
    stderrPipe.fileHandleForReading.readabilityHandler = { handle in
      let data = handle.availableData
      if data.isEmpty {
        handle.readabilityHandler = nil
      } else {
        output.state.withLock { $0.stderr.append(data) }
      }
    }
    try process.run()
  }

  var processIdentifier: Int32 { process.processIdentifier }
  var isRunning: Bool { process.isRunning }
  var stdoutText: String { outputBox.state.withLock { String(decoding: $0.stdout, as: UTF8.self) } }
  var stderrText: String { outputBox.state.withLock { String(decoding: $0.stderr, as: UTF8.self) } }

  /// Waits, up to `timeout`, for a complete stdout line satisfying `predicate`. Throws if the
  /// child exits or closes stdout first, or the time runs out (with what it printed so far).
  func waitForLine(timeout: Duration, where predicate: (String) -> Bool) async throws -> String {
    let deadline = ContinuousClock.now + timeout
    while true {
      let (text, closed) = outputBox.state.withLock { (String(decoding: $0.stdout, as: UTF8.self), $0.stdoutClosed) }
      // Only lines that already ended with a newline are complete.
      let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).dropLast()
      if let line = lines.first(where: { predicate(String($0)) }) { return String(line) }
      if closed || !process.isRunning {
        throw SubprocessError("\(command.joined(separator: " ")) exited before printing the expected line\nstdout: \(text)\nstderr: \(stderrText)")
      }
      if ContinuousClock.now >= deadline {
        throw SubprocessError("no expected line from \(command.joined(separator: " ")) within \(timeout)\nstdout: \(text)\nstderr: \(stderrText)")
      }
      try await Task.sleep(for: .milliseconds(10))
    }
  }

  /// Closes the child's stdin, sends SIGTERM and waits for it to exit (SIGKILL after `grace`).
  /// Safe to call more than once.
  func terminate(grace: Duration = .seconds(5)) async {
    let first = stopped.withLock { stopped in defer { stopped = true }; return !stopped }
    if first { try? stdinPipe.fileHandleForWriting.close() }
    await stopProcess(process, grace: grace)
  }
}

/// Starts a child, runs `body`, and always terminates and reaps the child afterwards (also when
/// `body` throws).
func withChildProcess<T>(
  _ executable: String, _ arguments: [String], _ body: (ChildProcess) async throws -> T
) async throws -> T {
  let child = try ChildProcess(executable, arguments)
  do {
    let result = try await body(child)
    await child.terminate()
    return result
  } catch {
    await child.terminate()
    throw error
  }
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
