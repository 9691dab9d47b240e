import Foundation
import Synchronization

/// The directory `swift build` put the products in (the test bundle sits beside them).
public let productsDirectory: URL = {
  let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  if FileManager.default.isExecutableFile(atPath: beside.appendingPathComponent("account-service").path) { return beside }
  // Repository root from this file (Tests/HayonTestSupport/), then the debug build.
  return URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent(".build/debug")
}()

public struct ChildProcessError: Error, CustomStringConvertible {
  public var description: String
  public init(description: String) { self.description = description }
}

/// A child process for a test: a product of this package (a service executable, the sandbox) or
/// any command (a stock gRPC server in Python). Output is collected as it arrives, so a test can
/// wait for a line; always stopped by `terminate()` (stdin closed, SIGTERM, SIGKILL after a grace
/// period).
public final class ChildProcess: Sendable {
  private struct Output {
    var stdout = Data()
    var stderr = Data()
    /// End of file seen on each pipe: everything the child wrote has been collected.
    var stdoutClosed = false
    var stderrClosed = false
  }

  private final class OutputBox: Sendable {
    let state = Mutex(Output())
  }

  public let executable: String
  // Configured before `run()`, afterwards only queried and signalled.
  private let process = Process()
  private let outputBox = OutputBox()
  /// The write end of the child's stdin, for children that stop when it closes (so they also
  /// stop if the test process dies); nil when stdin is /dev/null.
  private let stdin: FileHandle?

  /// A product of this package, with exactly `environment`.
  public convenience init(product: String, environment: [String: String]) throws {
    let path = productsDirectory.appendingPathComponent(product).path
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw ChildProcessError(description: "\(path) is missing: run swift build --build-tests first")
    }
    try self.init(path: path, arguments: [], environment: environment, stdinPipe: false)
  }

  /// Any command (found on `PATH` unless it is a path), inheriting this process's environment.
  /// Its stdin is a pipe that stays open until `terminate()`.
  public convenience init(command: String, arguments: [String]) throws {
    try self.init(path: resolveExecutable(command).path, arguments: arguments, environment: nil, stdinPipe: true)
  }

  private init(path: String, arguments: [String], environment: [String: String]?, stdinPipe: Bool) throws {
    executable = path
    let stdoutPipe = Pipe()
    let stderrPipe = Pipe()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    if stdinPipe {
      let pipe = Pipe()
      process.standardInput = pipe
      stdin = pipe.fileHandleForWriting
    } else {
      process.standardInput = FileHandle.nullDevice
      stdin = nil
    }
    process.standardOutput = stdoutPipe
    process.standardError = stderrPipe
    // One reader thread per pipe, blocking in read until end of file: every byte the child wrote
    // is collected, and end of file is always seen (Foundation's readability handlers sometimes
    // never report it). Threads, not tasks, so no cooperative thread is held.
    let output = outputBox
    Self.collect(stdoutPipe.fileHandleForReading) { data in
      output.state.withLock { if let data { $0.stdout.append(data) } else { $0.stdoutClosed = true } }
    }
    Self.collect(stderrPipe.fileHandleForReading) { data in
      output.state.withLock { if let data { $0.stderr.append(data) } else { $0.stderrClosed = true } }
    }
    try process.run()
  }

  /// Calls `deliver` with each chunk read from `handle`, then with nil at end of file.
  private static func collect(_ handle: FileHandle, _ deliver: @escaping @Sendable (Data?) -> Void) {
    let thread = Thread {
      while true {
        let data = handle.availableData
        if data.isEmpty { break }
        deliver(data)
      }
      deliver(nil)
    }
    thread.start()
  }

  public var stdoutText: String { outputBox.state.withLock { String(decoding: $0.stdout, as: UTF8.self) } }
  public var stderrText: String { outputBox.state.withLock { String(decoding: $0.stderr, as: UTF8.self) } }
  public var isRunning: Bool { process.isRunning }
  public var terminationStatus: Int32 { process.terminationStatus }

  /// The first complete stdout line starting with `prefix`; fails if the child exits first or
  /// `timeout` passes (polling the collected output, not sleeping for a guessed time).
  public func waitForLine(startingWith prefix: String, timeout: Duration = .seconds(30)) async throws -> String {
    try await waitForLine(timeout: timeout) { $0.hasPrefix(prefix) }
  }

  /// The first complete stdout line satisfying `predicate`, under the same rules.
  public func waitForLine(timeout: Duration = .seconds(30), where predicate: (String) -> Bool) async throws -> String {
    let deadline = ContinuousClock.now + timeout
    while true {
      let text = stdoutText
      // Only lines that already ended with a newline are complete.
      let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).dropLast()
      if let line = lines.first(where: { predicate(String($0)) }) { return String(line) }
      if !process.isRunning {
        throw ChildProcessError(description: "\(executable) exited (\(process.terminationStatus)) before the expected line\n\(stderrText)")
      }
      if ContinuousClock.now >= deadline {
        throw ChildProcessError(description: "no expected line from \(executable) within \(timeout)\n\(stderrText)")
      }
      try await Task.sleep(for: .milliseconds(10))
    }
  }

  /// Waits up to `timeout` for the child to exit; true if it did.
  public func waitForExit(timeout: Duration = .seconds(20)) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
      if ContinuousClock.now >= deadline { return false }
      try? await Task.sleep(for: .milliseconds(10))
    }
    process.waitUntilExit()
    // Wait until both readers have seen end of file, so the collected output is all the child
    // wrote (bounded, in case a grandchild still holds a pipe open).
    let drained = ContinuousClock.now + .seconds(5)
    while !outputBox.state.withLock({ $0.stdoutClosed && $0.stderrClosed }) && ContinuousClock.now < drained {
      try? await Task.sleep(for: .milliseconds(5))
    }
    return true
  }

  /// SIGKILL now: the process gets no chance to finish anything (crash tests).
  public func killNow() async {
    guard process.isRunning else { return }
    kill(process.processIdentifier, SIGKILL)
    _ = await waitForExit(timeout: .seconds(10))
  }

  /// SIGTERM, then SIGKILL if it is still running after `grace`. Safe to call more than once.
  public func terminate(grace: Duration = .seconds(10)) async {
    try? stdin?.close()
    guard process.isRunning else { return }
    process.terminate()
    if await waitForExit(timeout: grace) { return }
    kill(process.processIdentifier, SIGKILL)
    _ = await waitForExit(timeout: .seconds(10))
  }
}

/// Runs `body` with a started product and always stops it afterwards.
public func withChildProcess<T>(
  product: String, environment: [String: String], _ body: (ChildProcess) async throws -> T
) async throws -> T {
  try await withStopped(ChildProcess(product: product, environment: environment), body)
}

/// Runs `body` with a started command and always stops it afterwards.
public func withChildProcess<T>(
  command: String, arguments: [String], _ body: (ChildProcess) async throws -> T
) async throws -> T {
  try await withStopped(ChildProcess(command: command, arguments: arguments), body)
}

private func withStopped<T>(_ child: ChildProcess, _ body: (ChildProcess) async throws -> T) async throws -> T {
  do {
    let result = try await body(child)
    await child.terminate()
    return result
  } catch {
    await child.terminate()
    throw error
  }
}
