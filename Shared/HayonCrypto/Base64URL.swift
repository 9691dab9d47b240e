/// Base64url (RFC 4648 §5) without padding, as used by JWTs, PKCE and HayonCrypto's own formats.
///
/// Decoding is strict: only the URL-safe alphabet, no padding, no whitespace, and the unused low
/// bits of the last character must be zero, so every byte string has exactly one accepted text.
public enum Base64URL {
  private static let alphabet: [UInt8] = Array(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

  /// Maps an ASCII byte to its 6-bit value, or 0xFF when it is not in the alphabet.
  private static let values: [UInt8] = {
    var table = [UInt8](repeating: 0xFF, count: 256)
    for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
    return table
  }()

  public static func encode(_ bytes: some Sequence<UInt8>) -> String {
    let input = Array(bytes)
    var output: [UInt8] = []
    output.reserveCapacity((input.count * 4 + 2) / 3)
    var index = 0
    while index + 3 <= input.count {
      let group =
        UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
      output.append(alphabet[Int(group >> 18 & 63)])
      output.append(alphabet[Int(group >> 12 & 63)])
      output.append(alphabet[Int(group >> 6 & 63)])
      output.append(alphabet[Int(group & 63)])
      index += 3
    }
    switch input.count - index {
    case 1:
      let group = UInt32(input[index]) << 16
      output.append(alphabet[Int(group >> 18 & 63)])
      output.append(alphabet[Int(group >> 12 & 63)])
    case 2:
      let group = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
      output.append(alphabet[Int(group >> 18 & 63)])
      output.append(alphabet[Int(group >> 12 & 63)])
      output.append(alphabet[Int(group >> 6 & 63)])
    default:
      break
    }
    return String(decoding: output, as: UTF8.self)
  }

  /// The decoded bytes, or `nil` when `text` is not canonical unpadded base64url.
  public static func decode(_ text: some StringProtocol) -> [UInt8]? {
    let input = Array(text.utf8)
    if input.count % 4 == 1 { return nil }
    var output: [UInt8] = []
    output.reserveCapacity(input.count * 3 / 4)
    var accumulator: UInt32 = 0
    var bitCount = 0
    for character in input {
      let value = values[Int(character)]
      if value == 0xFF { return nil }
      accumulator = accumulator << 6 | UInt32(value)
      bitCount += 6
      if bitCount >= 8 {
        bitCount -= 8
        output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bitCount)))
        accumulator &= (1 << UInt32(bitCount)) - 1
      }
    }
    // Leftover bits (2 or 4) must be zero, or two texts would decode to the same bytes.
    if accumulator != 0 { return nil }
    return output
  }

  /// Decodes configuration text: standard or URL-safe alphabet, with or without `=` padding.
  /// For keys pasted from `openssl rand -base64 32`; protocol data uses strict `decode`.
  static func decodeLenient(_ text: some StringProtocol) -> [UInt8]? {
    var characters = Array(text.utf8)
    if characters.last == UInt8(ascii: "=") {
      guard characters.count % 4 == 0 else { return nil }
      characters.removeLast()
      if characters.last == UInt8(ascii: "=") { characters.removeLast() }
    }
    let mapped = characters.map { character -> UInt8 in
      switch character {
      case UInt8(ascii: "+"): UInt8(ascii: "-")
      case UInt8(ascii: "/"): UInt8(ascii: "_")
      default: character
      }
    }
    return decode(String(decoding: mapped, as: UTF8.self))
  }
}
