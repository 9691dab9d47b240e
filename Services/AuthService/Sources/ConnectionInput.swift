import Foundation
import HayonAuth
import HayonModel
import HayonPlatforms
import HayonRPC

/// Checks on every Connections request, before anything is read, written or sent. Each refusal is
/// `INVALID_ARGUMENT` naming the field; no message repeats a password, code or state.
enum ConnectionInput {
  static func validateUserId(_ userId: String) throws(RPCError) {
    guard UserID.isValid(userId) else {
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

}
