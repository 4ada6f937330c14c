import Foundation
import Synchronization

/// What the heartbeat knows of the database: whether it answers, since when without a break,
/// and the last purge of this hub's rows it has seen.
final class DatabaseContact: Sendable {
    private struct State {
        var since: ContinuousClock.Instant? = .now
        var lastPurgeSeen: Date?
    }
    private let state = Mutex(State())

    var isUp: Bool { state.withLock { $0.since != nil } }

    /// Whether contact has lasted `window` without a break: only then may this hub judge others dead.
    func lasted(_ window: Duration) -> Bool {
        state.withLock { state in state.since.map { ContinuousClock.now - $0 >= window } ?? false }
    }

    /// A heartbeat went through; returns true when it reports a purge of this hub not seen before.
    func heartbeatSucceeded(purgedAt: Date?) -> Bool {
        state.withLock { state in
            if state.since == nil { state.since = .now }
            guard let purgedAt, purgedAt != state.lastPurgeSeen else { return false }
            state.lastPurgeSeen = purgedAt
            return true
        }
    }

    /// A heartbeat failed: the contact clock starts again when the database is back.
    /// Returns whether this is news (the database was up until now).
    func heartbeatFailed() -> Bool {
        state.withLock { state in
            defer { state.since = nil }
            return state.since != nil
        }
    }
}
