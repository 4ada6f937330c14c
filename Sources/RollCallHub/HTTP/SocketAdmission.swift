import Hummingbird
import NIOCore
import NIOHTTP1
import RollCall
import Synchronization

/// The decision taken on a WebSocket handshake before any upgrade: a valid token, a reachable
/// database, and the user and address within their `OpenLimits`. An admitted socket holds its
/// place under the per-user cap until its channel closes, whether or not the upgrade completes.
final class SocketAdmission: Sendable {
    private let authority: TokenAuthority
    private let trustedProxies: TrustedProxies
    private let metrics: HubMetrics
    private let databaseAvailable: @Sendable () -> Bool
    private let limits: Mutex<OpenLimits>
    /// What the gate established for each admitted handshake, until its route takes it: the
    /// token is verified and the address resolved once per socket.
    private let admitted = Mutex<[ObjectIdentifier: Admitted]>([:])

    struct Admitted: Sendable {
        let identity: Identity
        let address: String?
    }

    init(
        authority: TokenAuthority, rules: OpenLimits.Rules, trustedProxies: TrustedProxies, metrics: HubMetrics,
        databaseAvailable: @escaping @Sendable () -> Bool
    ) {
        self.authority = authority
        self.trustedProxies = trustedProxies
        self.metrics = metrics
        self.databaseAvailable = databaseAvailable
        self.limits = Mutex(OpenLimits(rules: rules))
    }

    /// Nil when the handshake may proceed, else the refusal its client is answered with.
    func admit(_ head: HTTPRequestHead, on channel: any Channel) -> APIError? {
        let refusal = decide(head, on: channel)
        if refusal != nil { metrics.connectionsRefused.increment() }
        return refusal
    }

    private func decide(_ head: HTTPRequestHead, on channel: any Channel) -> APIError? {
        let query = head.uri.firstIndex(of: "?").map { String(head.uri[head.uri.index(after: $0)...]) }
        let identity: Identity
        do {
            identity = try authority.identity(authorization: head.headers["authorization"].first, query: query)
        } catch {
            return error
        }
        guard databaseAvailable() else {
            return .unavailable("the database is unreachable; open sockets stay, new ones wait")
        }
        let address = trustedProxies.clientAddress(peer: channel.remoteAddress?.ipAddress, forwardedFor: head.headers["x-forwarded-for"])
        let user = identity.userID
        if let refusal = limits.withLock({ $0.admit(user: user, address: address, now: .now) }) {
            metrics.connectionsLimited.increment()
            return APIError(status: .tooManyRequests, code: .rateLimited, message: refusal.description)
        }
        let key = ObjectIdentifier(channel)
        admitted.withLock { $0[key] = Admitted(identity: identity, address: address) }
        channel.closeFuture.whenComplete { _ in
            self.limits.withLock { $0.closed(user: user) }
            self.admitted.withLock { _ = $0.removeValue(forKey: key) }
        }
        return nil
    }

    /// The identity and address admitted on `channel`, once; nil when no handshake was admitted there.
    func take(_ channel: any Channel) -> Admitted? {
        admitted.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }
}
