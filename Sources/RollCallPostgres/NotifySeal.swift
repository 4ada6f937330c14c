import Crypto
import Foundation
import RollCall

/// Signs what hubs NOTIFY each other and checks what they hear. PostgreSQL lets any session
/// NOTIFY any channel, so without this anyone with SQL access (an analyst, say) could publish
/// presence or deliver messages. Every payload is `v1.<unix ms>.<mac>.<json>`, the MAC an
/// HMAC-SHA256 over channel, time and JSON with a key derived from the secret all hubs share.
/// Payloads that fail, are too old, or were heard before are dropped by `ReplayGuard`'s owner.
public struct NotifySeal: Sendable {
    private let key: SymmetricKey

    /// Bytes a seal adds in front of the JSON, at most.
    public static let overhead = 64

    /// The key is derived from `secret` (the JWT secret every hub already shares), never the secret itself.
    public init(secret: String) {
        let derived = HMAC<SHA256>.authenticationCode(for: Data("rollcall notify v1".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        key = SymmetricKey(data: Data(derived))
    }

    public enum Refusal: String, Error, Sendable {
        case unsigned = "unsigned"
        case forged = "bad_signature"
        case stale = "stale"
        case replayed = "replayed"
    }

    /// An accepted payload: its JSON and what the replay guard remembers it by.
    public struct Opened: Sendable {
        public let json: Substring
        public let mac: String
        public let sentAtMilliseconds: Int64
    }

    public func seal(_ json: String, channel: String, at date: Date = Date()) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let mac = Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Self.signed(channel, milliseconds, json[...]), using: key)))
        return "v1.\(milliseconds).\(mac).\(json)"
    }

    public func open(_ payload: String, channel: String) throws(Refusal) -> Opened {
        let parts = payload.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", let milliseconds = Int64(parts[1]), let mac = Self.bytes(base64URL: parts[2]) else {
            throw .unsigned
        }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.signed(channel, milliseconds, parts[3]), using: key) else {
            throw .forged
        }
        return Opened(json: parts[3], mac: String(parts[2]), sentAtMilliseconds: milliseconds)
    }

    private static func signed(_ channel: String, _ milliseconds: Int64, _ json: Substring) -> Data {
        Data("\(channel).\(milliseconds).".utf8) + Data(json.utf8)
    }

    /// A MAC as sealed: 32 bytes are 43 base64url characters.
    private static func bytes(base64URL text: Substring) -> [UInt8]? {
        text.utf8.count == 43 ? Base64URL.decode(text) : nil
    }
}

/// Remembers the payloads heard within `window` so a recorded payload played again is refused,
/// and refuses payloads sent longer ago than `window` (hubs' clocks may differ by less).
public struct ReplayGuard: Sendable {
    public let window: Int64
    private var seen: [String: Int64] = [:]
    private var oldestKept: Int64 = .min

    public init(windowMilliseconds: Int64 = 120_000) {
        window = windowMilliseconds
    }

    public mutating func admit(_ opened: NotifySeal.Opened, nowMilliseconds now: Int64) throws(NotifySeal.Refusal) {
        guard abs(now - opened.sentAtMilliseconds) <= window else { throw .stale }
        if now - window > oldestKept + window / 4 {
            // Forget, a few times per window, what is too old to be admitted anyway.
            seen = seen.filter { $0.value >= now - window }
            oldestKept = now - window
        }
        guard seen.updateValue(opened.sentAtMilliseconds, forKey: opened.mac) == nil else { throw .replayed }
    }

    /// Payloads remembered right now.
    public var remembered: Int { seen.count }
}
