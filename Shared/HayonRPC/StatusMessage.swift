/// The `grpc-message` encoding: UTF-8, then percent-encoding of every byte outside 0x20–0x7E and
/// of `%` itself.
public enum StatusMessage {
  public static func encode(_ message: String) -> String {
    var output = ""
    output.reserveCapacity(message.utf8.count)
    let hex = Array("0123456789ABCDEF".utf8)
    var bytes: [UInt8] = []
    for byte in message.utf8 {
      if byte >= 0x20 && byte <= 0x7E && byte != 0x25 {
        bytes.append(byte)
      } else {
        bytes.append(0x25)
        bytes.append(hex[Int(byte >> 4)])
        bytes.append(hex[Int(byte & 0x0F)])
      }
    }
    output = String(decoding: bytes, as: UTF8.self)
    return output
  }

  /// Longest message sent, in UTF-8 bytes before encoding: a status must always fit in the
  /// header block (nghttp2 drops a block over 64 KiB, which would leave the caller waiting).
  public static let maxMessageBytes = 4096

  /// `message` cut to `maxMessageBytes` on a character boundary, marked as cut.
  public static func truncated(_ message: String) -> String {
    guard message.utf8.count > maxMessageBytes else { return message }
    var result = ""
    var used = 0
    let marker = "… (truncated)"
    let budget = maxMessageBytes - marker.utf8.count
    for character in message {
      let size = character.utf8.count
      if used + size > budget { break }
      result.append(character)
      used += size
    }
    return result + marker
  }

  /// Decodes percent-encoding. Never fails: a broken escape is kept as it is.
  public static func decode(_ text: String) -> String {
    let input = Array(text.utf8)
    guard input.contains(0x25) else { return text }
    var output: [UInt8] = []
    output.reserveCapacity(input.count)
    var index = 0
    while index < input.count {
      if input[index] == 0x25, index + 2 < input.count {
        if let high = hexValue(input[index + 1]), let low = hexValue(input[index + 2]) {
          output.append(high << 4 | low)
          index += 3
          continue
        }
      }
      output.append(input[index])
      index += 1
    }
    return String(decoding: output, as: UTF8.self)
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: return byte - 0x30
    case 0x41...0x46: return byte - 0x41 + 10
    case 0x61...0x66: return byte - 0x61 + 10
    default: return nil
    }
  }
}
