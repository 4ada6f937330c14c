import Logging
import RollCall
import RollCallPostgres
import ServiceLifecycle
import Synchronization

/// The hub's own row and its open rows across a run: before the server accepts, it registers and
/// closes what a previous run with the same `server_id` left open; at shutdown, after the sockets
/// are closed, it closes whatever is still open and marks the hub stopped.
struct HubLifecycle: Service {
    let serverID: String
    let writer: RegistryWriter
    let registration: ServerRegistration
    let logger: Logger
    /// Set once `prepare` has registered the hub: only then is there a shutdown to record.
    let prepared = PreparedFlag()

    static let version = "0.1.0"

    /// Runs before the server starts accepting (Hummingbird's `beforeServerStarts`).
    func prepare(host: String) async throws {
        try await registration.register(version: Self.version, host: host)
        let stale = try await writer.closeAll(of: serverID, reason: .serverRestart)
        if stale > 0 {
            logger.notice("closed rows left open by a previous run", metadata: ["rows": "\(stale)", "close_reason": "server_restart"])
        }
        prepared.set()
    }

    func run() async throws {
        try? await gracefulShutdown()
        if Task.isCancelled {
            // The hub failed (e.g. its port was taken) and everything is being cancelled: the
            // writer is going too, so what is open is left to a restart or another hub's purge.
            logger.notice("hub ending without a graceful shutdown: open rows are left to a restart or the purge")
            return
        }
        guard prepared.isSet else {
            // Stopped while migrating or registering: nothing of this run is in the database.
            logger.info("hub stopped before it served")
            return
        }
        // The server has stopped and its sockets have queued their closes by now.
        logger.info("server stopped: writing the last closes")
        writer.shutdownBegins()
        await writer.drained()
        do {
            let leftover = try await writer.closeAll(of: serverID, reason: .serverShutdown)
            try await registration.markStopped()
            logger.info("hub stopped", metadata: ["rows_closed_at_shutdown": "\(leftover)"])
        } catch {
            logger.error("could not record the shutdown", metadata: ["error": "\(error)"])
        }
    }
}

final class PreparedFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
