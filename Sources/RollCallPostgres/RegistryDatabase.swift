import Logging
import PostgresNIO

/// Short jobs against the registry database, outside a running hub (CLI commands, tests).
public enum RegistryDatabase {
    /// Applies pending migrations; returns the names applied.
    public static func migrate(_ location: DatabaseLocation, logger: Logger) async throws -> [String] {
        let migrations = try Migration.bundled()
        return try await DatabaseAdmin.withConnection(to: location, logger: logger) { connection in
            try await Migrator(logger: logger).migrate(migrations, on: connection)
        }
    }

    /// What one purge pass did: the orphans it closed, the history rows it rolled up, the months it
    /// dropped and the rows it deleted (nil when another hub was at it at the time).
    public struct PurgePass: Sendable {
        public let report: PurgeReport
        public let historyRolledUp: Int?
        public let monthsDropped: [String]?
        public let historyDeleted: Int?
    }

    /// One purge pass outside a hub (`rollcall purge`): closes the rows of hubs silent past
    /// `orphanWindow`, finishes the graces they left, makes the coming months' partitions, rolls up
    /// the history closed since the last pass and drops or deletes history past `retention`. Its
    /// transitions are sealed with `seal` so hubs believe them.
    public static func purgeOnce(
        _ location: DatabaseLocation, seal: NotifySeal, orphanWindow: Duration, offlineGrace: Duration, retention: Duration, logger: Logger
    ) async throws -> PurgePass {
        _ = try await migrate(location, logger: logger)
        let client = PostgresClient(configuration: location.clientConfiguration(connections: 2), backgroundLogger: logger)
        // A name of its own: the purge spares only the hub that runs it, and this is no hub.
        let writer = RegistryWriter(serverID: "rollcall-purge", client: client, seal: seal, maxBatch: 1, offlineGrace: offlineGrace, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask { try await writer.run() }
            defer { group.cancelAll() }
            let report = try await writer.purgeOrphans(window: orphanWindow)
            let history = HistoryMaintenance(client: client, logger: logger)
            _ = try await history.addMonths()
            let rolled = try await history.rollUp()
            let dropped = try await history.dropExpiredMonths(retention: retention)
            let deleted = try await history.sweep(retention: retention)
            return PurgePass(report: report, historyRolledUp: rolled, monthsDropped: dropped, historyDeleted: deleted)
        }
    }
}
