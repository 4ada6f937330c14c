import Logging
import RollCall
import RollCallPostgres
import ServiceLifecycle

/// Every `--heartbeat-interval` one write vouches for all of this hub's connections. It also
/// notices when the database is gone (new sockets then get 503) and when a purge closed this
/// hub's rows while it was cut off, in which case it reopens the rows of the sockets it holds.
struct HeartbeatService: Service {
    let interval: Duration
    let writer: RegistryWriter
    let sockets: LiveSockets
    let metrics: HubMetrics
    let registration: ServerRegistration
    let contact: DatabaseContact
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // The lifecycle registered the hub before the server started; beat from then on.
            while !Task.isCancelled {
                try? await Task.sleep(for: pause)
                if !Task.isCancelled { await beat() }
            }
        }
    }

    /// While the database is gone, knock every second so new sockets are accepted soon after it
    /// is back, not a whole heartbeat interval later.
    var pause: Duration {
        contact.isAvailable ? interval : min(interval, .seconds(1))
    }

    /// How long one beat may take: its interval, within 2 to 5 s. A timed-out beat closes its
    /// connection, and a new one takes a moment: shorter would fail a loaded but healthy hub.
    static func deadline(interval: Duration) -> Duration {
        min(max(interval, .seconds(2)), .seconds(5))
    }

    func beat() async {
        do {
            let purgedAt = try await registration.heartbeat(within: Self.deadline(interval: interval))
            let beat = contact.heartbeatSucceeded(purgedAt: purgedAt)
            if beat.purgedMeanwhile {
                let held = sockets.allConnections
                logger.warning("this hub's rows were purged while it was cut off: reopening them", metadata: ["sockets": "\(held.count)"])
                writer.reopen(held)
            }
            if beat.recovered { logger.notice("database reachable again") }
        } catch is ServerRegistration.Unregistered {
            // Someone deleted our row; put it back (started_at restarts, the rows are ours).
            try? await registration.register(version: HubLifecycle.version, host: "")
        } catch {
            metrics.heartbeatFailures.increment()
            if contact.heartbeatFailed() {
                logger.error("database unreachable: refusing new sockets, keeping open ones", metadata: ["error": "\(error)"])
            }
        }
    }
}
