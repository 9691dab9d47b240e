import Foundation
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

/// A subprocess problem that is not the subprocess's own failure (which `ProcessResult` reports).
struct SubprocessError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// What a finished command produced.
struct ProcessResult: Sendable, CustomStringConvertible {
  var command: [String]
  /// The exit status, or the signal number when `terminatedBySignal`.
  var status: Int32
  var terminatedBySignal: Bool
  /// The command outlived its timeout and was killed.
  var timedOut: Bool
  var stdout: Data
  var stderr: Data

  var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
  var stderrText: String { String(decoding: stderr, as: UTF8.self) }
  var succeeded: Bool { !timedOut && !terminatedBySignal && status == 0 }

  var description: String {
    let how = timedOut ? "timed out" : terminatedBySignal ? "killed by signal \(status)" : "exit status \(status)"
    return "\(command.joined(separator: " ")): \(how)\n--- stdout ---\n\(stdoutText.suffix(4000))\n--- stderr ---\n\(stderrText.suffix(4000))"
  }
}

/// Finds `name` on `$PATH` (or returns it unchanged when it already is a path).
func resolveExecutable(_ name: String) throws -> URL {
  if name.contains("/") {
    guard FileManager.default.isExecutableFile(atPath: name) else {
      throw SubprocessError("\(name) does not exist or is not executable")
    }
    return URL(fileURLWithPath: name)
  }
  let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
  for directory in path.split(separator: ":") {
    let candidate = "\(directory)/\(name)"
    if FileManager.default.isExecutableFile(atPath: candidate) { return URL(fileURLWithPath: candidate) }
  }
  throw SubprocessError("\(name) not found on PATH")
}

/// Waits (polling, with a bound) for `process` to exit. Returns false if it is still running
/// when `timeout` passes.
private func waitForExit(_ process: Process, timeout: Duration) async -> Bool {
  let deadline = ContinuousClock.now + timeout
  while process.isRunning {
    if ContinuousClock.now >= deadline { return false }
    try? await Task.sleep(for: .milliseconds(10))
  }
  return true
}

/// Stops `process`: SIGTERM, then SIGKILL if it has not exited within `grace`.
private func stop(_ process: Process, grace: Duration) async {
  guard process.isRunning else { return }
  process.terminate()
  if await waitForExit(process, timeout: grace) { return }
  kill(process.processIdentifier, SIGKILL)
  _ = await waitForExit(process, timeout: .seconds(10))
}

/// Runs a command to completion, capturing stdout and stderr (through files, so a chatty
/// command can never block on a full pipe). A command still running after `timeout` is
/// terminated (then killed) and reported as `timedOut`. Stdin is /dev/null.
func runProcess(
  _ executable: String, _ arguments: [String], timeout: Duration = .seconds(60),
  environment: [String: String]? = nil
) async throws -> ProcessResult {
  let url = try resolveExecutable(executable)
  let directory = FileManager.default.temporaryDirectory
    .appendingPathComponent("hayon-proc-\(UUID().uuidString)", isDirectory: true)
  try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(at: directory) }
  let stdoutURL = directory.appendingPathComponent("stdout")
  let stderrURL = directory.appendingPathComponent("stderr")
  _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
  _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
  let stdoutHandle = try FileHandle(forWritingTo: stdoutURL)
  let stderrHandle = try FileHandle(forWritingTo: stderrURL)
  defer {
    try? stdoutHandle.close()
    try? stderrHandle.close()
  }

  let process = Process()
  process.executableURL = url
  process.arguments = arguments
  if let environment { process.environment = environment }
  process.standardInput = FileHandle.nullDevice
  process.standardOutput = stdoutHandle
  process.standardError = stderrHandle
  try process.run()

  let exited = await waitForExit(process, timeout: timeout)
  if !exited { await stop(process, grace: .seconds(2)) }
  let killed = process.isRunning == false && process.terminationReason == .uncaughtSignal
  return ProcessResult(
    command: [url.path] + arguments,
    status: process.isRunning ? -1 : process.terminationStatus,
    terminatedBySignal: killed,
    timedOut: !exited,
    stdout: (try? Data(contentsOf: stdoutURL)) ?? Data(),
    stderr: (try? Data(contentsOf: stderrURL)) ?? Data())
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
    await stop(process, grace: grace)
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
