import Foundation
import HayonAuth
import HayonPlatforms
import HayonRPC

/// Checks on every Connections request, before anything is read, written or sent. Each refusal is
/// `INVALID_ARGUMENT` naming the field; no message repeats a password, code or state.
enum ConnectionInput {
  static func validateUserId(_ userId: String) throws(RPCError) {
    guard !userId.isEmpty, userId.utf8.count <= Connections.Limits.userIdLength,
      userId.utf8.allSatisfy({ isIdByte($0) })
    else {
      throw ConnectionErrors.invalid("userId", "must be 1-\(Connections.Limits.userIdLength) characters of A-Z a-z 0-9 _ -")
    }
  }

  static func blueskyIdentifier(_ input: String) throws(RPCError) -> String {
    guard input.utf8.count <= Connections.Limits.identifierLength else {
      throw ConnectionErrors.invalid("identifier", "is longer than \(Connections.Limits.identifierLength) characters")
    }
    do {
      return try BlueskyRules.normaliseIdentifier(input)
    } catch {
      throw ConnectionErrors.invalid("identifier", error.description)
    }
  }

  static func appPassword(_ input: String) throws(RPCError) -> String {
    guard !input.isEmpty else { throw ConnectionErrors.invalid("appPassword", "is empty") }
    guard input.utf8.count <= Connections.Limits.passwordLength, BlueskyRules.isAppPasswordShape(input) else {
      throw ConnectionErrors.invalid(
        "appPassword",
        "must be an app password (four groups of four letters or digits, like xxxx-xxxx-xxxx-xxxx) created in Bluesky's settings; the account password is not accepted"
      )
    }
    return input.trimmingCharacters(in: .whitespaces)
  }

  static func validateCallback(_ request: Connections.CompleteConnectRequest) throws(RPCError) {
    if let state = request.state, state.utf8.count > Connections.Limits.stateLength {
      throw ConnectionErrors.invalid("state", "is malformed")
    }
    if let code = request.code, code.utf8.count > Connections.Limits.codeLength {
      throw ConnectionErrors.invalid("code", "is longer than \(Connections.Limits.codeLength) characters")
    }
    for (name, value) in [("error", request.error), ("errorDescription", request.errorDescription)] {
      if let value, value.utf8.count > Connections.Limits.callbackErrorLength {
        throw ConnectionErrors.invalid(name, "is longer than \(Connections.Limits.callbackErrorLength) characters")
      }
    }
    if request.error == nil, request.code?.isEmpty ?? true {
      throw ConnectionErrors.invalid("code", "is missing: the callback carried neither a code nor an error")
    }
  }

  private static func isIdByte(_ byte: UInt8) -> Bool {
    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
      || byte == 0x2D
  }
}
