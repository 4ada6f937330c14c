/// What one `rollcall load` run prints: one JSON object, read by `scripts/bench` and the tests.
/// Sections that were not asked for (watchers, messages) are left out.
public struct LoadSummary: Codable, Sendable, Equatable {
    public struct Connections: Codable, Sendable, Equatable {
        public var planned: Int
        public var welcomed: Int

        public init(planned: Int, welcomed: Int) {
            self.planned = planned
            self.welcomed = welcomed
        }
    }

    /// Latencies in milliseconds, by nearest rank; only `count` when there were none.
    public struct Latency: Codable, Sendable, Equatable {
        public var count: Int
        public var p50: Double?
        public var p90: Double?
        public var p99: Double?
        public var p99_9: Double?
        public var max: Double?

        /// From samples in milliseconds, in any order.
        public init(milliseconds samples: [Double]) {
            let sorted = samples.sorted()
            count = sorted.count
            guard !sorted.isEmpty else { return }
            func rank(_ fraction: Double) -> Double {
                let index = Swift.min(sorted.count - 1, Swift.max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1))
                return (sorted[index] * 1000).rounded() / 1000
            }
            (p50, p90, p99, p99_9, max) = (rank(0.5), rank(0.9), rank(0.99), rank(0.999), rank(1))
        }
    }

    public struct PresenceEvents: Codable, Sendable, Equatable {
        public var online: Int
        public var offline: Int

        public init(online: Int, offline: Int) {
            self.online = online
            self.offline = offline
        }
    }

    public struct Messages: Codable, Sendable, Equatable {
        public var sent: Int
        public var delivered: Int
        public var acked: Int
        /// Over the span from the first send to the last delivery.
        public var deliveredPerSecond: Double

        public init(sent: Int, delivered: Int, acked: Int, deliveredPerSecond: Double) {
            self.sent = sent
            self.delivered = delivered
            self.acked = acked
            self.deliveredPerSecond = deliveredPerSecond
        }

        enum CodingKeys: String, CodingKey { case sent, delivered, acked, deliveredPerSecond = "delivered_per_second" }
    }

    /// The rooms phase: every socket's joins, state changes and leaves, each answered.
    public struct Rooms: Codable, Sendable, Equatable {
        public var changes: Int
        public var seconds: Double
        public var changesPerSecond: Double

        public init(changes: Int, seconds: Double, changesPerSecond: Double) {
            self.changes = changes
            self.seconds = seconds
            self.changesPerSecond = changesPerSecond
        }

        enum CodingKeys: String, CodingKey { case changes, seconds, changesPerSecond = "changes_per_second" }
    }

    public var connections: Connections
    public var connectsPerSecond: Double
    public var closeSeconds: Double
    public var timeToWelcome: Latency
    /// Failures by kind: `refused_429`, `closed_before_welcome_4001`, `connect_refused`, ...
    public var errors: [String: Int]
    /// From the welcome on one hub to the online event at a watcher on another.
    public var propagation: Latency?
    /// From the start of the open to the online event at a watcher (includes the commit).
    public var propagationFromOpen: Latency?
    public var presenceEvents: PresenceEvents?
    public var messages: Messages?
    public var messageLatency: Latency?
    public var rooms: Rooms?
    /// The whole run, in seconds.
    public var seconds: Double
    /// Why the run ended early, when it did.
    public var stopped: String?

    public init(
        connections: Connections, connectsPerSecond: Double, closeSeconds: Double, timeToWelcome: Latency, errors: [String: Int], seconds: Double
    ) {
        self.connections = connections
        self.connectsPerSecond = connectsPerSecond
        self.closeSeconds = closeSeconds
        self.timeToWelcome = timeToWelcome
        self.errors = errors
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case connections, connectsPerSecond = "connects_per_second", closeSeconds = "close_seconds"
        case timeToWelcome = "time_to_welcome_ms", errors, propagation = "propagation_ms", propagationFromOpen = "propagation_from_open_ms"
        case presenceEvents = "presence_events", messages, messageLatency = "message_latency_ms", rooms, seconds, stopped
    }
}
