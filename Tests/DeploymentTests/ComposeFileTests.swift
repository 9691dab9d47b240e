import Foundation
import HayonTestSupport
import Testing

/// The repository root (this file is Tests/DeploymentTests/ComposeFileTests.swift).
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()

private func text(_ path: String) throws -> String {
  try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
}

/// Where each product the compose file runs reads its configuration.
private let productSources = [
  "platform-sandbox": "Tests/PlatformSandboxExecutable/main.swift",
  "account-service": "Services/AccountService/Executable/main.swift",
  "auth-service": "Services/AuthService/Executable/main.swift",
  "publish-service": "Services/PublishService/Executable/main.swift",
  "gateway": "Services/Gateway/Executable/main.swift",
]

/// Never written into the compose file: taken from the environment or `.env`.
private let secretVariables: Set<String> = ["HAYON_RPC_TOKEN", "HAYON_VAULT_KEYS", "HAYON_ACCESS_TOKEN_KEYS"]

/// One service of docker-compose.yml as this file writes it (two-space YAML, one key per line).
struct ComposeService {
  var name: String
  var command: String?
  var environment: [String: String] = [:]
  var ports: [String] = []
  var volumes: [String] = []
  var healthcheck: String?
}

/// A small reader for our own compose file's layout; `docker-compose config` checks the YAML.
func parseCompose(_ yaml: String) -> (services: [ComposeService], volumes: [String]) {
  var services: [ComposeService] = []
  var volumes: [String] = []
  var section = ""
  var key = ""
  for raw in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
    let line = String(raw)
    if line.hasPrefix("#") || line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
    let indent = line.prefix { $0 == " " }.count
    let content = line.trimmingCharacters(in: .whitespaces)
    if indent == 0 {
      section = String(content.dropLast(content.hasSuffix(":") ? 1 : 0))
      continue
    }
    if section == "volumes", indent == 2 { volumes.append(String(content.dropLast())) }
    guard section == "services" else { continue }
    if indent == 2 {
      services.append(ComposeService(name: String(content.dropLast())))
    } else if indent == 4 {
      key = String(content.prefix { $0 != ":" })
      if key == "command", let start = content.firstIndex(of: "\""), let end = content[content.index(after: start)...].firstIndex(of: "\"") {
        services[services.count - 1].command = String(content[content.index(after: start)..<end])
      }
    } else if indent == 6 {
      switch key {
      case "environment":
        let name = String(content.prefix { $0 != ":" })
        let value = content.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
        services[services.count - 1].environment[name] = value.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
      case "ports":
        services[services.count - 1].ports.append(content.dropFirst(2).trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
      case "volumes":
        services[services.count - 1].volumes.append(String(content.dropFirst(2).prefix { $0 != ":" }))
      case "healthcheck" where content.hasPrefix("test:"):
        services[services.count - 1].healthcheck = content
      default:
        break
      }
    }
  }
  return (services, volumes)
}

@Suite("docker-compose.yml and Dockerfile")
struct ComposeFileTests {
  @Test func debiansDockerComposeAcceptsTheFileWithSecretsFromTheEnvironment() async throws {
    let secrets = ["HAYON_RPC_TOKEN": "t0ken", "HAYON_VAULT_KEYS": "v1:key", "HAYON_ACCESS_TOKEN_KEYS": "a1:key"]
    let (status, output) = try await runCompose(["config"], environment: secrets)
    #expect(status == 0, "\(output)")
    for service in productSources.keys { #expect(output.contains("  \(service):")) }
    // Without the secrets the file refuses to start anything, naming what is missing.
    let (missingStatus, missingOutput) = try await runCompose(["config"], environment: [:])
    #expect(missingStatus != 0)
    #expect(missingOutput.contains("set HAYON_RPC_TOKEN"))
  }

  @Test func everyServicePortVolumeAndVariableExistsInTheCodeAndTheReadme() throws {
    let compose = parseCompose(try text("docker-compose.yml"))
    let readme = try text("README.md")
    let package = try text("Package.swift")
    let dockerfile = try text("Dockerfile")
    let shared = try text("Shared/HayonRuntime/ServiceEnvironment.swift")
    #expect(Set(compose.services.map(\.name)) == Set(productSources.keys))
    for service in compose.services {
      let product = try #require(service.command, "\(service.name) has no command")
      #expect(product == service.name)
      #expect(package.contains(".executable(name: \"\(product)\""), "\(product) is not a product")
      let built = dockerfile.split(separator: "\n").first { $0.contains("for product in") } ?? ""
      #expect(built.contains(" \(product) ") || built.contains(" \(product);"), "Dockerfile does not build \(product)")
      #expect(dockerfile.contains("\"$bin/\(product)\""), "Dockerfile does not ship \(product)")
      #expect(readme.contains(product), "README does not mention \(product)")
      let source = try text(try #require(productSources[product])) + shared
      for (variable, value) in service.environment {
        #expect(source.contains(variable), "\(product) never reads \(variable)")
        #expect(readme.contains("`\(variable)`"), "README does not document \(variable)")
        if secretVariables.contains(variable) {
          #expect(value == "${\(variable):?set \(variable)}", "\(variable) must come from the environment, required")
        }
      }
      // A published port is the one the service listens on.
      for port in service.ports {
        let containerPort = try #require(port.split(separator: ":").last)
        let listens = service.environment.contains { $0.key.hasSuffix("_LISTEN") && $0.value.hasSuffix(":\(containerPort)") }
        #expect(listens, "\(service.name) publishes \(port) but listens elsewhere")
      }
      for volume in service.volumes { #expect(compose.volumes.contains(volume), "\(volume) is not declared") }
      #expect(service.healthcheck?.contains("hayon-probe") == true, "\(service.name) has no health check")
      // Addresses of other services point at their listening ports.
      for (variable, value) in service.environment where variable.hasSuffix("_SERVICE_ADDRESS") {
        let parts = value.split(separator: ":")
        let target = try #require(compose.services.first { $0.name == parts.first.map(String.init) }, "\(variable) names no service")
        #expect(target.environment.values.contains("0.0.0.0:\(parts.last!)"), "\(variable) points at a port \(target.name) does not listen on")
      }
    }
    #expect(package.contains(".executable(name: \"hayon-probe\""))
  }

  /// Runs Debian's docker-compose against the repository's file.
  func runCompose(_ arguments: [String], environment: [String: String]) async throws -> (Int32, String) {
    var base = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
    base.merge(environment) { $1 }
    let result = try await runProcess(
      "/usr/bin/env",
      ["docker-compose", "--project-directory", repository.path, "-f", repository.appendingPathComponent("docker-compose.yml").path]
        + arguments,
      environment: base)
    return (result.status, result.stdoutText + result.stderrText)
  }
}
