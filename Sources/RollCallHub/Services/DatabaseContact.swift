import Foundation
import RollCall
import Synchronization

/// The hub's shared `DatabaseHealth`, fed by the heartbeat and the writer's outcomes.
final class DatabaseContact: Sendable {
    private let health = Mutex(DatabaseHealth(now: .now))

    var isAvailable: Bool { health.withLock { $0.isAvailable } }

    func lasted(_ window: Duration) -> Bool { health.withLock { $0.contactLasted(window, now: .now) } }

    func heartbeatSucceeded(purgedAt: Date?) -> DatabaseHealth.Heartbeat {
        health.withLock { $0.heartbeatSucceeded(purgedAt: purgedAt, now: .now) }
    }

    func heartbeatFailed() -> Bool { health.withLock { $0.heartbeatFailed() } }

    func writeCommitted() { health.withLock { $0.writeCommitted() } }

    func writeFailed() { health.withLock { $0.writeFailed() } }
}
