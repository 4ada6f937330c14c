import ExtrasBase64

/// Base64 with the URL-safe alphabet (`-` and `_`) and no padding (RFC 4648 §5), as JWTs and the
/// hubs' NOTIFY seals write it. Table-driven (swift-extras-base64, which jwt-kit reads tokens
/// with too): it runs on every upgrade and every NOTIFY.
public enum Base64URL {
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        Base64.encodeToString(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }

    /// The bytes `text` encodes, padded or not; nil when it is not base64url.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        decode(bytes: text.utf8)
    }

    /// The bytes that the base64url characters `bytes` encode, padded or not; nil when they are not base64url.
    public static func decode(bytes: some Collection<UInt8>) -> [UInt8]? {
        try? Base64.decode(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }
}
