import Foundation
import JWTKit
import RollCall

/// The claims of a RollCall token (docs/protocol.md, "Tokens").
struct TokenClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var admin: Bool?
    var watch: [String]?
    var rooms: [String]?

    init(sub: SubjectClaim, exp: ExpirationClaim, admin: Bool?, watch: [String]?, rooms: [String]?) {
        self.sub = sub
        self.exp = exp
        self.admin = admin
        self.watch = watch
        self.rooms = rooms
    }

    /// The claims of a token's payload object; nil when one is missing or not of its type (as
    /// jwt-kit's decoder would refuse it). Other claims are ignored; `null` is an absent claim.
    init?(_ fields: [String: JSONValue]) {
        guard case .string(let subject)? = fields["sub"], case .number(let seconds)? = fields["exp"] else { return nil }
        sub = SubjectClaim(value: subject)
        exp = ExpirationClaim(value: Date(timeIntervalSince1970: seconds.double))
        switch fields["admin"] {
        case nil, .null?: admin = nil
        case .bool(let value)?: admin = value
        default: return nil
        }
        guard let watch = Self.strings(fields["watch"]), let rooms = Self.strings(fields["rooms"]) else { return nil }
        self.watch = watch
        self.rooms = rooms
    }

    /// A claim that lists strings: `.some(nil)` when absent or null, nil when it is anything but
    /// a list of strings.
    private static func strings(_ claim: JSONValue?) -> [String]?? {
        switch claim {
        case nil, .null?: return .some(nil)
        case .array(let items)?:
            var strings: [String] = []
            for case .string(let item) in items { strings.append(item) }
            return strings.count == items.count ? .some(strings) : nil
        default: return nil
        }
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Why a token was refused; the message is safe to show (it never echoes the token).
public struct TokenRejected: Error, CustomStringConvertible, Equatable {
    public let description: String
}

/// Verifies and mints HS256 tokens with the hub's secret.
///
/// Minting goes through jwt-kit's `JWTKeyCollection`. Verifying checks the signature with the
/// same key's jwt-kit algorithm, synchronously: the collection is an actor, and its `verify` would
/// take a task and a hop to it for every WebSocket handshake, so the upgrade gate decides on the
/// connection's event loop. The header and claims of a token whose signature checks out are read
/// with `JSONParser`: jwt-kit's parser decodes them with `JSONDecoder`, which was most of a
/// token's cost on every upgrade.
public struct TokenAuthority: Sendable {
    /// jwt-kit traps in debug builds on shorter HMAC keys; we refuse them with a message instead.
    public static let minimumSecretBytes = 32

    private let keys: JWTKeyCollection
    /// The collection's HS256 key, as jwt-kit's algorithm.
    private let algorithm: any JWTAlgorithm

    public struct WeakSecret: Error, CustomStringConvertible {
        public let length: Int
        public var description: String {
            "the JWT secret is \(length) bytes long; HS256 needs at least \(TokenAuthority.minimumSecretBytes) (e.g. `openssl rand -hex 32`)"
        }
    }

    public init(secret: String) async throws(WeakSecret) {
        let length = secret.utf8.count
        guard length >= Self.minimumSecretBytes else { throw WeakSecret(length: length) }
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        do {
            algorithm = try await keys.getKey()
        } catch {
            preconditionFailure("the key just added is the collection's default: \(error)")
        }
    }

    /// The identity a token proves, or why it proves none.
    public func verify(_ token: String) throws(TokenRejected) -> Identity {
        let claims = try verifiedClaims(token)
        let user = claims.sub.value
        guard Identity.isValidUserID(user) else {
            throw TokenRejected(description: "token subject must be 1 to \(Identity.maximumUserIDBytes) bytes, without NUL")
        }
        return Identity(
            userID: user, isAdmin: claims.admin ?? false, watchable: claims.watch.map(Set.init), expiresAt: claims.exp.value, rooms: claims.rooms)
    }

    /// The claims of `token`, read only once its signature checks out, and not expired.
    private func verifiedClaims(_ token: String) throws(TokenRejected) -> TokenClaims {
        let malformed = TokenRejected(description: "token is malformed or not signed with this hub's secret")
        let bytes = Array(token.utf8)
        let parts = bytes.split(separator: UInt8(ascii: "."), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3, let signature = Base64URL.decode(bytes: parts[2]) else { throw malformed }
        // The signed input is the header and the payload, as sent: everything before the last dot.
        guard (try? algorithm.verify(signature, signs: bytes[..<(parts[2].startIndex - 1)])) == true else { throw malformed }
        // A token signed with this hub's secret says so: HS256, and no other algorithm.
        guard let header = Self.object(parts[0]), header["alg"] == .string("HS256"),
            let payload = Self.object(parts[1]), let claims = TokenClaims(payload)
        else { throw malformed }
        guard claims.exp.value > Date() else { throw TokenRejected(description: "token expired") }
        return claims
    }

    /// The JSON object a base64url part of a token holds.
    private static func object(_ part: ArraySlice<UInt8>) -> [String: JSONValue]? {
        guard let json = Base64URL.decode(bytes: part), case .object(let fields)? = try? JSONParser.parse(String(decoding: json, as: UTF8.self))
        else { return nil }
        return fields
    }

    /// A signed token for `identity`, valid for `lifetime`.
    public func mint(_ identity: Identity, lifetime: Duration) async throws -> String {
        let claims = TokenClaims(
            sub: .init(value: identity.userID),
            exp: .init(value: Date().addingTimeInterval(lifetime.timeInterval)),
            admin: identity.isAdmin ? true : nil,
            watch: identity.watchable.map { $0.sorted() },
            rooms: identity.rooms)
        return try await keys.sign(claims)
    }
}
