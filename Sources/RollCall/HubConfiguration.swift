/// Everything a hub needs to run, parsed once from flags and environment.
public struct HubConfiguration: Sendable {
    /// Every default, written once: the initializer, the command line and its help use these.
    public enum Defaults {
        public static let host = "127.0.0.1"
        public static let port = 8080
        public static let orphanWindow: Duration = .seconds(60)
        public static let heartbeatInterval: Duration = .seconds(10)
        public static let offlineGrace: Duration = .seconds(3)
        public static let retention: Duration = .seconds(30 * 86_400)
        public static let webhookTimeout: Duration = .seconds(5)
        public static let webhookMaxAge: Duration = .seconds(86_400)
        public static let maxBatch = 500
        public static let batchLinger: Duration = .milliseconds(5)
        public static let writeDeadline: Duration = .seconds(10)
        public static let maxMessageBytes = 64 * 1024
        public static let maxUserAgentBytes = 512
        public static let maxOutboundBytes = 4 * 1024 * 1024
        public static let pingInterval: Duration = .seconds(30)
        public static let maxBadFrames = 20
        public static let maxSocketsPerUser = 100
        public static let userOpensPerSecond = 10
        public static let addressOpensPerSecond = 200
    }

    public var host: String
    public var port: Int
    public var serverID: String
    public var jwtSecret: String
    public var orphanWindow: Duration
    public var heartbeatInterval: Duration
    public var purgeInterval: Duration
    public var offlineGrace: Duration
    public var retention: Duration
    /// Where webhooks go, if anywhere (`--webhook-url`).
    public var webhooks: WebhookSettings?
    /// Most events one registry transaction takes; 1 turns grouping off.
    public var maxBatch: Int
    /// Longest a registry batch waits for more requests while the hub is busy; zero never waits.
    public var batchLinger: Duration
    /// Longest one registry transaction may take before the hub gives it up; its statements are
    /// cut off sooner (`DatabaseLocation.sessionLimits(within:)`), so most failures are clean errors.
    public var writeDeadline: Duration
    /// Largest `data` of a message; a frame may be larger by `frameOverhead` for its envelope.
    public var maxMessageBytes: Int
    /// Longest user agent kept in a connection row.
    public var maxUserAgentBytes: Int
    /// Most bytes queued for one socket and not yet written; past it the socket is closed.
    public var maxOutboundBytes: Int
    /// How often the hub pings an idle socket; a peer silent for as long again is dropped.
    public var pingInterval: Duration
    /// Bad frames one connection may send before it is closed with 1008.
    public var maxBadFrames: Int
    /// Load balancers whose `X-Forwarded-For` names the client recorded as `remote_addr`.
    public var trustedProxies: TrustedProxies
    /// The per-user socket cap and the open rates per user and per address.
    public var openLimits: OpenLimits.Rules

    public init(
        host: String = Defaults.host,
        port: Int = Defaults.port,
        serverID: String,
        jwtSecret: String,
        orphanWindow: Duration = Defaults.orphanWindow,
        heartbeatInterval: Duration = Defaults.heartbeatInterval,
        purgeInterval: Duration? = nil,
        offlineGrace: Duration = Defaults.offlineGrace,
        retention: Duration = Defaults.retention,
        maxBatch: Int = Defaults.maxBatch,
        batchLinger: Duration = Defaults.batchLinger,
        writeDeadline: Duration = Defaults.writeDeadline,
        maxMessageBytes: Int = Defaults.maxMessageBytes,
        maxUserAgentBytes: Int = Defaults.maxUserAgentBytes,
        maxOutboundBytes: Int = Defaults.maxOutboundBytes,
        pingInterval: Duration = Defaults.pingInterval,
        maxBadFrames: Int = Defaults.maxBadFrames,
        trustedProxies: TrustedProxies = .none,
        openLimits: OpenLimits.Rules = .init()
    ) {
        self.host = host
        self.port = port
        self.serverID = serverID
        self.jwtSecret = jwtSecret
        self.orphanWindow = orphanWindow
        self.heartbeatInterval = heartbeatInterval
        self.purgeInterval = purgeInterval ?? orphanWindow / 4
        self.offlineGrace = offlineGrace
        self.retention = retention
        self.maxBatch = maxBatch
        self.batchLinger = batchLinger
        self.writeDeadline = writeDeadline
        self.maxMessageBytes = maxMessageBytes
        self.maxUserAgentBytes = maxUserAgentBytes
        self.maxOutboundBytes = maxOutboundBytes
        self.pingInterval = pingInterval
        self.maxBadFrames = maxBadFrames
        self.trustedProxies = trustedProxies
        self.openLimits = openLimits
    }

    /// Longest `--batch-linger` accepted: a lingering writer notices a stop only when it is over.
    public static let maxBatchLinger: Duration = .seconds(1)

    /// The bounds of `--write-deadline`: under 2 s a busy database fails writes that would have
    /// gone through; over a minute, opens wait that long before they are refused.
    public static let writeDeadlines: ClosedRange<Duration> = .seconds(2) ... .seconds(60)

    /// Room for a frame's envelope around its `data`.
    public static let frameOverhead = 4096

    /// Largest WebSocket frame accepted; above it the socket is closed with 1009.
    public var maxFrameBytes: Int { maxMessageBytes + Self.frameOverhead }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Checks the values against each other; the message says which option to change.
    public func validate() throws(Invalid) {
        if serverID.isEmpty || serverID.utf8.count > 200 {
            throw Invalid(description: "--server-id must be 1 to 200 bytes long")
        }
        if !(0...65535).contains(port) { throw Invalid(description: "--port must be between 0 and 65535") }
        if maxBatch < 1 { throw Invalid(description: "--max-batch must be at least 1") }
        if batchLinger < .zero || batchLinger > Self.maxBatchLinger {
            throw Invalid(description: "--batch-linger must be between 0 and \(DurationText.format(Self.maxBatchLinger))")
        }
        if !Self.writeDeadlines.contains(writeDeadline) {
            let (low, high) = (DurationText.format(Self.writeDeadlines.lowerBound), DurationText.format(Self.writeDeadlines.upperBound))
            throw Invalid(description: "--write-deadline must be between \(low) and \(high)")
        }
        if maxMessageBytes < 1 { throw Invalid(description: "--max-message-bytes must be at least 1") }
        if maxOutboundBytes < 2 * maxFrameBytes {
            throw Invalid(
                description:
                    "--max-outbound-bytes must be at least twice the largest frame (\(2 * maxFrameBytes) bytes), or one message could close a socket")
        }
        if openLimits.maxSocketsPerUser < 0 { throw Invalid(description: "--max-sockets-per-user must be 0 (no cap) or more") }
        for (flag, rate) in [("--user-open-rate", openLimits.userOpens), ("--address-open-rate", openLimits.addressOpens)]
        where rate.perSecond < 0 || (rate.perSecond > 0 && rate.burst < 1) {
            throw Invalid(description: "\(flag) must be 0 (no limit) or a rate with a burst of at least 1")
        }
        if heartbeatInterval <= .zero { throw Invalid(description: "--heartbeat-interval must be above zero") }
        if purgeInterval <= .zero { throw Invalid(description: "--purge-interval must be above zero") }
        if orphanWindow <= heartbeatInterval {
            let (window, beat) = (DurationText.format(orphanWindow), DurationText.format(heartbeatInterval))
            throw Invalid(description: "--orphan-window (\(window)) must exceed --heartbeat-interval (\(beat)), or live hubs would be purged")
        }
    }
}
