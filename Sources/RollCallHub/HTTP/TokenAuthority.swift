import Foundation
import JWTKit
import RollCall

/// The claims of a RollCall token (DESIGN.md §7).
struct TokenClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var admin: Bool?
    var watch: [String]?

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
/// Minting goes through jwt-kit's `JWTKeyCollection`. Verifying uses the same key's jwt-kit
/// algorithm and parser directly, synchronously: the collection is an actor, and its `verify`
/// would take a task and a hop to it for every WebSocket handshake. So the upgrade gate decides on
/// the connection's event loop.
public struct TokenAuthority: Sendable {
    /// jwt-kit traps in debug builds on shorter HMAC keys; we refuse them with a message instead.
    public static let minimumSecretBytes = 32

    private let keys: JWTKeyCollection
    /// The collection's HS256 key, as jwt-kit's algorithm.
    private let algorithm: any JWTAlgorithm
    private let parser = DefaultJWTParser()

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
        let claims: TokenClaims
        do {
            claims = try verifiedClaims(token)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw TokenRejected(description: "token expired")
        } catch {
            throw TokenRejected(description: "token is malformed or not signed with this hub's secret")
        }
        let user = claims.sub.value
        guard Identity.isValidUserID(user) else {
            throw TokenRejected(description: "token subject must be 1 to \(Identity.maximumUserIDBytes) bytes, without NUL")
        }
        return Identity(userID: user, isAdmin: claims.admin ?? false, watchable: claims.watch.map(Set.init), expiresAt: claims.exp.value)
    }

    /// The claims of `token`, decoded only once its signature checks out, and not expired.
    private func verifiedClaims(_ token: String) throws -> TokenClaims {
        let bytes = Array(token.utf8)
        let parts = try parser.getTokenParts(bytes)
        guard let signature = Base64URL.decode(String(decoding: parts.signature, as: UTF8.self)), let lastDot = bytes.lastIndex(of: UInt8(ascii: ".")) else {
            throw JWTError.malformedToken(reason: "the signature is not base64url")
        }
        // The signed input is the header and the payload, as sent: everything before the last dot.
        guard try algorithm.verify(signature, signs: bytes[..<lastDot]) else { throw JWTError.signatureVerificationFailed }
        let claims = try parser.parse(bytes, as: TokenClaims.self).payload
        try claims.exp.verifyNotExpired()
        return claims
    }

    /// A signed token for `identity`, valid for `lifetime`.
    public func mint(_ identity: Identity, lifetime: Duration) async throws -> String {
        let claims = TokenClaims(
            sub: .init(value: identity.userID),
            exp: .init(value: Date().addingTimeInterval(lifetime.timeInterval)),
            admin: identity.isAdmin ? true : nil,
            watch: identity.watchable.map { $0.sorted() })
        return try await keys.sign(claims)
    }
}
