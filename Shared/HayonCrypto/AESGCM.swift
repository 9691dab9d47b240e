internal import COpenSSL

/// Raw AES-256-GCM over OpenSSL's EVP cipher interface. Internal: callers use `Sealer`, which
/// picks nonces itself so none is ever reused by mistake.
enum AES256GCM {
  static let keyByteCount = 32
  static let nonceByteCount = 12
  static let tagByteCount = 16
  /// EVP lengths are `Int32`; HayonCrypto seals credentials, not files.
  static let maximumMessageBytes = 16 << 20

  static func seal(
    _ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]
  ) throws(CryptoError) -> (ciphertext: [UInt8], tag: [UInt8]) {
    guard key.count == keyByteCount, nonce.count == nonceByteCount else {
      throw .invalidArgument("AES-256-GCM needs a 32-byte key and a 12-byte nonce")
    }
    guard plaintext.count <= maximumMessageBytes, associatedData.count <= maximumMessageBytes else {
      throw .invalidArgument("message larger than \(maximumMessageBytes) bytes")
    }
    guard let context = EVP_CIPHER_CTX_new() else { throw .openSSL("EVP_CIPHER_CTX_new") }
    defer { EVP_CIPHER_CTX_free(context) }

    guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1 else {
      throw .openSSL("EVP_EncryptInit_ex(aes-256-gcm)")
    }
    guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceByteCount), nil) == 1
    else {
      throw .openSSL("EVP_CTRL_GCM_SET_IVLEN")
    }
    guard EVP_EncryptInit_ex(context, nil, nil, key, nonce) == 1 else {
      throw .openSSL("EVP_EncryptInit_ex(key)")
    }

    var length: Int32 = 0
    if !associatedData.isEmpty {
      guard
        EVP_EncryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)) == 1
      else {
        throw .openSSL("EVP_EncryptUpdate(aad)")
      }
    }
    // GCM is a stream mode: output length equals input length. One spare block for safety.
    var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
    var written = 0
    if !plaintext.isEmpty {
      guard EVP_EncryptUpdate(context, &ciphertext, &length, plaintext, Int32(plaintext.count)) == 1
      else {
        throw .openSSL("EVP_EncryptUpdate")
      }
      written = Int(length)
    }
    let finalOK = ciphertext.withUnsafeMutableBufferPointer { buffer in
      EVP_EncryptFinal_ex(context, buffer.baseAddress! + written, &length) == 1
    }
    guard finalOK else { throw .openSSL("EVP_EncryptFinal_ex") }
    written += Int(length)

    var tag = [UInt8](repeating: 0, count: tagByteCount)
    guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagByteCount), &tag) == 1 else {
      throw .openSSL("EVP_CTRL_GCM_GET_TAG")
    }
    return (Array(ciphertext.prefix(written)), tag)
  }

  /// Decrypts and checks the tag. Returns plaintext only when the tag verifies; otherwise throws
  /// `.authenticationFailed` and the partial output is wiped.
  static func open(
    _ ciphertext: ArraySlice<UInt8>, tag: ArraySlice<UInt8>, key: [UInt8], nonce: ArraySlice<UInt8>,
    associatedData: [UInt8]
  ) throws(CryptoError) -> [UInt8] {
    guard key.count == keyByteCount, nonce.count == nonceByteCount, tag.count == tagByteCount else {
      throw .invalidArgument("AES-256-GCM needs a 32-byte key, a 12-byte nonce and a 16-byte tag")
    }
    guard ciphertext.count <= maximumMessageBytes, associatedData.count <= maximumMessageBytes
    else {
      throw .invalidArgument("message larger than \(maximumMessageBytes) bytes")
    }
    let nonce = Array(nonce)
    var tag = Array(tag)
    let ciphertext = Array(ciphertext)
    guard let context = EVP_CIPHER_CTX_new() else { throw .openSSL("EVP_CIPHER_CTX_new") }
    defer { EVP_CIPHER_CTX_free(context) }

    guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1 else {
      throw .openSSL("EVP_DecryptInit_ex(aes-256-gcm)")
    }
    guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceByteCount), nil) == 1
    else {
      throw .openSSL("EVP_CTRL_GCM_SET_IVLEN")
    }
    guard EVP_DecryptInit_ex(context, nil, nil, key, nonce) == 1 else {
      throw .openSSL("EVP_DecryptInit_ex(key)")
    }

    var length: Int32 = 0
    if !associatedData.isEmpty {
      guard
        EVP_DecryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)) == 1
      else {
        throw .openSSL("EVP_DecryptUpdate(aad)")
      }
    }
    var plaintext = [UInt8](repeating: 0, count: ciphertext.count + 16)
    var written = 0
    if !ciphertext.isEmpty {
      guard
        EVP_DecryptUpdate(context, &plaintext, &length, ciphertext, Int32(ciphertext.count)) == 1
      else {
        throw .openSSL("EVP_DecryptUpdate")
      }
      written = Int(length)
    }
    guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagByteCount), &tag) == 1 else {
      throw .openSSL("EVP_CTRL_GCM_SET_TAG")
    }
    let verified = plaintext.withUnsafeMutableBufferPointer { buffer in
      EVP_DecryptFinal_ex(context, buffer.baseAddress! + written, &length) == 1
    }
    guard verified else {
      // A tag mismatch is an expected outcome, not an OpenSSL fault; clear the queue anyway so
      // nothing stale is left for this thread's next caller.
      _ = drainOpenSSLErrors()
      for index in plaintext.indices { plaintext[index] = 0 }
      throw .authenticationFailed
    }
    written += Int(length)
    return Array(plaintext.prefix(written))
  }
}
