/// Who may open a socket on this hub now: at most `maxSocketsPerUser` open at once per user, and
/// opens per user and per client address metered by token buckets, so one user's reconnect loop
/// or one address's flood costs the hub little and everyone else nothing. Pure: the caller passes
/// `now` and tells it when an admitted socket is gone.
public struct OpenLimits: Sendable {
    /// A sustained rate with room for a burst; a zero rate meters nothing.
    public struct Rate: Sendable, Equatable {
        public var perSecond: Double
        public var burst: Double

        public init(perSecond: Double, burst: Double) {
            self.perSecond = perSecond
            self.burst = burst
        }

        /// `perSecond` sustained, with bursts of five seconds' worth; 0 meters nothing.
        public static func sustained(_ perSecond: Double) -> Rate {
            Rate(perSecond: perSecond, burst: perSecond > 0 ? max(1, perSecond * 5) : 0)
        }

        public static let unlimited = Rate(perSecond: 0, burst: 0)
        public var isUnlimited: Bool { perSecond <= 0 }
    }

    public struct Rules: Sendable, Equatable {
        /// Most sockets one user holds open on this hub; 0 is no cap.
        public var maxSocketsPerUser: Int
        public var userOpens: Rate
        public var addressOpens: Rate

        public init(
            maxSocketsPerUser: Int = HubConfiguration.Defaults.maxSocketsPerUser,
            userOpens: Rate = .sustained(Double(HubConfiguration.Defaults.userOpensPerSecond)),
            addressOpens: Rate = .sustained(Double(HubConfiguration.Defaults.addressOpensPerSecond))
        ) {
            self.maxSocketsPerUser = maxSocketsPerUser
            self.userOpens = userOpens
            self.addressOpens = addressOpens
        }

        public static let none = Rules(maxSocketsPerUser: 0, userOpens: .unlimited, addressOpens: .unlimited)
    }

    public enum Refusal: Sendable, Equatable, CustomStringConvertible {
        case tooManySockets(limit: Int)
        case userOpensTooFast
        case addressOpensTooFast

        public var description: String {
            switch self {
            case .tooManySockets(let limit): "this user already holds \(limit) sockets on this hub; close one first"
            case .userOpensTooFast: "this user opens sockets too fast; wait a moment and reconnect"
            case .addressOpensTooFast: "this address opens sockets too fast; wait a moment and reconnect"
            }
        }
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant

        /// Tokens at `now`, refilled at `rate` up to its burst.
        func level(at now: ContinuousClock.Instant, rate: Rate) -> Double {
            let elapsed = now - updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return min(rate.burst, tokens + max(0, seconds) * rate.perSecond)
        }
    }

    public let rules: Rules
    private var open: [String: Int] = [:]
    private var users: [String: Bucket] = [:]
    private var addresses: [String: Bucket] = [:]
    /// Bucket counts past which buckets that have refilled are forgotten.
    private var userPruneAt = 1024
    private var addressPruneAt = 1024

    public init(rules: Rules) {
        self.rules = rules
    }

    /// Admits a socket (counting it open and taking a token from each bucket) or says why not.
    /// A refused attempt takes nothing, so a refusal by one limit does not eat another's budget.
    public mutating func admit(user: String, address: String?, now: ContinuousClock.Instant) -> Refusal? {
        if rules.maxSocketsPerUser > 0, open[user, default: 0] >= rules.maxSocketsPerUser {
            return .tooManySockets(limit: rules.maxSocketsPerUser)
        }
        let userLevel = Self.level(of: user, in: users, rate: rules.userOpens, now: now)
        if let userLevel, userLevel < 1 { return .userOpensTooFast }
        let addressLevel = address.flatMap { Self.level(of: $0, in: addresses, rate: rules.addressOpens, now: now) }
        if let addressLevel, addressLevel < 1 { return .addressOpensTooFast }

        if let userLevel {
            users[user] = Bucket(tokens: userLevel - 1, updated: now)
            Self.prune(&users, threshold: &userPruneAt, rate: rules.userOpens, now: now)
        }
        if let address, let addressLevel {
            addresses[address] = Bucket(tokens: addressLevel - 1, updated: now)
            Self.prune(&addresses, threshold: &addressPruneAt, rate: rules.addressOpens, now: now)
        }
        open[user, default: 0] += 1
        return nil
    }

    /// An admitted socket of `user` is gone (closed, or its upgrade never finished).
    public mutating func closed(user: String) {
        guard let count = open[user] else { return }
        open[user] = count > 1 ? count - 1 : nil
    }

    /// Sockets of `user` admitted and not yet gone.
    public func openSockets(of user: String) -> Int { open[user, default: 0] }

    /// Users and addresses remembered; bounded by the traffic of about one burst's refill time.
    public var remembered: Int { open.count + users.count + addresses.count }

    /// A bucket's level now; nil when the rate meters nothing.
    private static func level(of key: String, in buckets: [String: Bucket], rate: Rate, now: ContinuousClock.Instant) -> Double? {
        guard !rate.isUnlimited else { return nil }
        return buckets[key]?.level(at: now, rate: rate) ?? rate.burst
    }

    /// Forgets full buckets (they equal no bucket) once there are many, so a stream of new
    /// addresses costs memory for about one refill time only.
    private static func prune(_ buckets: inout [String: Bucket], threshold: inout Int, rate: Rate, now: ContinuousClock.Instant) {
        guard buckets.count > threshold else { return }
        buckets = buckets.filter { $0.value.level(at: now, rate: rate) < rate.burst }
        threshold = max(1024, buckets.count * 2)
    }
}
