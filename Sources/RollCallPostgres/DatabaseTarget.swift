import Foundation
import Logging

/// The database a command uses: `DATABASE_URL`, or else the embedded cluster under the data directory.
public struct DatabaseTarget: Sendable {
    public let location: DatabaseLocation
    /// The embedded cluster, when one is used.
    public let embedded: EmbeddedPostgres?
    /// Whether this process started the cluster, and so stops it on exit.
    public let startedCluster: Bool

    public static let embeddedDatabaseName = "rollcall"

    public static func resolve(url: String?, dataDirectory: URL, logger: Logger) async throws -> DatabaseTarget {
        if let url, !url.isEmpty {
            return DatabaseTarget(location: try DatabaseLocation(url: url), embedded: nil, startedCluster: false)
        }
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        let cluster = try EmbeddedPostgres(dataDirectory: dataDirectory, logger: logger)
        let started = try cluster.start()
        let location = cluster.location(database: embeddedDatabaseName)
        do {
            try await DatabaseAdmin.createDatabaseIfMissing(embeddedDatabaseName, at: location, logger: logger)
        } catch {
            if started { cluster.stop() }
            throw error
        }
        return DatabaseTarget(location: location, embedded: cluster, startedCluster: started)
    }

    /// Stops the embedded cluster if this process started it and nobody else uses it: a command
    /// never stops one it found running, nor pulls it from under another hub on the same data dir.
    public func release(logger: Logger) async {
        guard startedCluster, let embedded else { return }
        let others = try? await DatabaseAdmin.withConnection(to: location.with(database: "postgres"), logger: logger) { connection in
            let rows = try await connection.query(
                "SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                logger: logger)
            return try await rows.collect().first?.decode(Int.self) ?? 0
        }
        if let others, others > 0 {
            logger.notice("embedded PostgreSQL left running: other clients use it", metadata: ["clients": "\(others)"])
            return
        }
        embedded.stop()
    }
}
