import Foundation

/// What a hub knows of its database, fed by the heartbeat and the writer, with the time passed
/// in. New sockets are accepted only while the database is available: the heartbeat answers and
/// the writer's last batch went through (or the heartbeat has answered since it failed).
public struct DatabaseHealth: Sendable {
    /// Since when the heartbeat has answered without a break; nil while it fails.
    private var contactSince: ContinuousClock.Instant?
    private var writerFailing = false
    private var lastPurgeSeen: Date?

    public init(now: ContinuousClock.Instant) {
        contactSince = now
    }

    public var isAvailable: Bool { contactSince != nil && !writerFailing }

    /// Whether contact has lasted `window` without a break: only then may this hub judge others dead.
    public func contactLasted(_ window: Duration, now: ContinuousClock.Instant) -> Bool {
        contactSince.map { now - $0 >= window } ?? false
    }

    public struct Heartbeat: Sendable, Equatable {
        /// The database was unavailable until this beat.
        public var recovered: Bool
        /// The beat reports a purge of this hub's rows not seen before: its sockets' rows must be reopened.
        public var purgedMeanwhile: Bool

        public init(recovered: Bool, purgedMeanwhile: Bool) {
            self.recovered = recovered
            self.purgedMeanwhile = purgedMeanwhile
        }
    }

    /// A heartbeat went through. It also clears a failed write: the database answers again.
    public mutating func heartbeatSucceeded(purgedAt: Date?, now: ContinuousClock.Instant) -> Heartbeat {
        let recovered = !isAvailable
        if contactSince == nil { contactSince = now }
        writerFailing = false
        var purged = false
        if let purgedAt, purgedAt != lastPurgeSeen {
            lastPurgeSeen = purgedAt
            purged = true
        }
        return Heartbeat(recovered: recovered, purgedMeanwhile: purged)
    }

    /// A heartbeat failed: the contact clock starts again when the database is back. Returns
    /// whether this is news (the heartbeat answered until now).
    public mutating func heartbeatFailed() -> Bool {
        defer { contactSince = nil }
        return contactSince != nil
    }

    public mutating func writeCommitted() {
        writerFailing = false
    }

    public mutating func writeFailed() {
        writerFailing = true
    }
}
