import Logging
import RollCall
import RollCallPostgres
import ServiceLifecycle

/// Every `--purge-interval`: close the rows of dead hubs, roll up the history closed since the last
/// pass, and delete history past the retention.
/// Runs on every hub; advisory locks let one work at a time, and a hub that has not been in
/// contact with the database for a whole window judges nobody (it may be the one cut off).
struct PurgeService: Service {
    let interval: Duration
    let orphanWindow: Duration
    let retention: Duration
    let writer: RegistryWriter
    let metrics: HubMetrics
    let history: HistoryMaintenance
    let contact: DatabaseContact
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled, contact.lasted(orphanWindow) else { continue }
                await pass()
            }
        }
    }

    /// Longest a pass waits for the writer to run its purge: the writer bounds each attempt, but a
    /// shutdown must not wait for a request queued behind a backlog (it is run or refused anyway).
    static let patience: Duration = .seconds(30)

    func pass() async {
        do {
            let writer = writer, orphanWindow = orphanWindow
            let report = try await withDeadline(Self.patience) { try await writer.purgeOrphans(window: orphanWindow) }
            metrics.orphansClosed.increment(by: Int64(report.rowsClosed))
            if report.rowsClosed > 0 || report.gracesFinished > 0 {
                logger.notice(
                    "orphan purge",
                    metadata: [
                        "rows_closed": "\(report.rowsClosed)", "servers": "\(report.closedByServer.keys.sorted())",
                        "users_offline": "\(report.usersOffline)", "graces_finished": "\(report.gracesFinished)",
                    ])
            }
            if let added = try await history.addMonths(), !added.isEmpty {
                logger.info("history months added", metadata: ["months": "\(added)"])
            }
            if let rolled = try await history.rollUp(), rolled > 0 {
                metrics.historyRolledUp.increment(by: Int64(rolled))
                logger.debug("history rolled up", metadata: ["rows": "\(rolled)"])
            }
            if let dropped = try await history.dropExpiredMonths(retention: retention), !dropped.isEmpty {
                metrics.historyMonthsDropped.increment(by: Int64(dropped.count))
                logger.notice("history months past retention dropped", metadata: ["months": "\(dropped)"])
            }
            if let deleted = try await history.sweep(retention: retention), deleted > 0 {
                metrics.historyDeleted.increment(by: Int64(deleted))
                logger.info("history past retention deleted", metadata: ["rows": "\(deleted)"])
            }
        } catch {
            logger.warning("purge pass failed", metadata: ["error": "\(error)"])
        }
    }
}
