import Foundation

#if canImport(Glibc)
import Glibc
#endif

// Commands a test runs to completion (curl, nghttp, python, docker-compose). Waiting is always
// asynchronous: a test that blocked a thread in `waitUntilExit` or `readDataToEndOfFile` would
// hold one of the few cooperative threads every test in the process shares, and on a 2-core
// machine two such waits starved unrelated tests' timers and deadlines for seconds.

/// A subprocess problem that is not the subprocess's own failure (which `ProcessResult` reports).
public struct SubprocessError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// What a finished command produced.
public struct ProcessResult: Sendable, CustomStringConvertible {
  public var command: [String]
  /// The exit status, or the signal number when `terminatedBySignal`.
  public var status: Int32
  public var terminatedBySignal: Bool
  /// The command outlived its timeout and was killed.
  public var timedOut: Bool
  public var stdout: Data
  public var stderr: Data

  public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
  public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
  public var succeeded: Bool { !timedOut && !terminatedBySignal && status == 0 }

  public var description: String {
    let how = timedOut ? "timed out" : terminatedBySignal ? "killed by signal \(status)" : "exit status \(status)"
    return "\(command.joined(separator: " ")): \(how)\n--- stdout ---\n\(stdoutText.suffix(4000))\n--- stderr ---\n\(stderrText.suffix(4000))"
  }
}

/// Finds `name` on `$PATH` (or returns it unchanged when it already is a path).
public func resolveExecutable(_ name: String) throws -> URL {
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
public func stopProcess(_ process: Process, grace: Duration) async {
  guard process.isRunning else { return }
  process.terminate()
  if await waitForExit(process, timeout: grace) { return }
  kill(process.processIdentifier, SIGKILL)
  _ = await waitForExit(process, timeout: .seconds(10))
}

/// Runs a command to completion, capturing stdout and stderr (through files, so a chatty
/// command can never block on a full pipe). A command still running after `timeout` is
/// terminated (then killed) and reported as `timedOut`. Stdin is /dev/null.
public func runProcess(
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
  if !exited { await stopProcess(process, grace: .seconds(2)) }
  let killed = process.isRunning == false && process.terminationReason == .uncaughtSignal
  return ProcessResult(
    command: [url.path] + arguments,
    status: process.isRunning ? -1 : process.terminationStatus,
    terminatedBySignal: killed,
    timedOut: !exited,
    stdout: (try? Data(contentsOf: stdoutURL)) ?? Data(),
    stderr: (try? Data(contentsOf: stderrURL)) ?? Data())
}

