import Foundation
import Logging
import NIOPosix

/// The database a command uses: `DATABASE_URL`, or else the embedded cluster under the data directory.
public struct DatabaseTarget: Sendable {
    public let location: DatabaseLocation
    /// The embedded cluster, when one is used.
    public let embedded: EmbeddedPostgres?
    /// Whether this process started the cluster, and so stops it on exit.
    public let startedCluster: Bool

    public static let embeddedDatabaseName = "rollcall"

    /// Longest the embedded cluster's own bookkeeping (creating the database, counting its
    /// clients before a stop) may take: a cluster that does not answer must not hang a command.
    static let adminPatience: Duration = .seconds(30)

    public static func resolve(url: String?, dataDirectory: URL, logger: Logger) async throws -> DatabaseTarget {
        if let url, !url.isEmpty {
            return DatabaseTarget(location: try DatabaseLocation(url: url), embedded: nil, startedCluster: false)
        }
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        // initdb and pg_ctl block while they run: on a thread of their own, not the concurrency
        // pool's (two threads on two cores), which signal handling and everything else share.
        let cluster = try await runBlocking { try EmbeddedPostgres(dataDirectory: dataDirectory, logger: logger) }
        let started = try await runBlocking { try cluster.start() }
        let location = cluster.location(database: embeddedDatabaseName)
        do {
            // A start cut short (a signal) goes no further than the cluster: no connection is
            // opened for a command that is ending, and none may hold up its exit.
            try Task.checkCancellation()
            try await withDeadline(Self.adminPatience) {
                try await DatabaseAdmin.createDatabaseIfMissing(embeddedDatabaseName, at: location, logger: logger)
            }
        } catch {
            if started { try? await runBlocking { cluster.stop() } }
            throw error
        }
        return DatabaseTarget(location: location, embedded: cluster, startedCluster: started)
    }

    /// Stops the embedded cluster if this process started it and nobody else uses it: a command
    /// never stops one it found running, nor pulls it from under another hub on the same data dir.
    public func release(logger: Logger) async {
        guard startedCluster, let embedded else { return }
        // In a cancelled command (a signal before it served) `withDeadline` gives up at once, so
        // the cluster it started moments ago is stopped without a connection that could hold up the exit.
        let location = location
        let others = try? await withDeadline(Self.adminPatience) {
            try await DatabaseAdmin.withConnection(to: location.with(database: "postgres"), logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    SELECT count(*)::int FROM pg_stat_activity
                    WHERE backend_type = 'client backend' AND application_name <> \(DatabaseLocation.applicationName)
                    """,
                    logger: logger)
                return try await rows.collect().first?.decode(Int.self) ?? 0
            }
        }
        if let others, others > 0 {
            logger.notice("embedded PostgreSQL left running: other clients use it", metadata: ["clients": "\(others)"])
            return
        }
        try? await runBlocking { embedded.stop() }
    }
}

/// Runs blocking work on NIO's thread pool and waits for it to finish, cancelled or not: a cluster
/// being started must be known started, so that it can be stopped.
func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        NIOThreadPool.singleton.submit { state in
            guard case .active = state else { return continuation.resume(throwing: CancellationError()) }
            continuation.resume(with: Result { try work() })
        }
    }
}
