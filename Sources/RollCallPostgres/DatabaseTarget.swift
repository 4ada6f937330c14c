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

    /// Stops the embedded cluster if this process started it; a command never stops one it found running.
    public func release() {
        if startedCluster { embedded?.stop() }
    }
}
