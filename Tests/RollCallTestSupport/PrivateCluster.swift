import Foundation
import RollCallPostgres

/// A PostgreSQL cluster of one test's own, for tests that stop and restart the server.
public struct PrivateCluster: Sendable {
    public let cluster: EmbeddedPostgres
    public let directory: URL
    public let database: DatabaseLocation

    /// Starts a new cluster with a migrated `rollcall` database; `body` runs, then it is removed.
    public static func with<T: Sendable>(_ body: (PrivateCluster) async throws -> T) async throws -> T {
        let directory = URL(fileURLWithPath: "/tmp/rollcall-cluster-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let cluster = try await blocking { () throws(EmbeddedPostgresError) in
            let cluster = try EmbeddedPostgres(dataDirectory: directory, logger: testLogger)
            _ = try cluster.start()
            return cluster
        }
        let database = cluster.location(database: "rollcall")
        let privateCluster = PrivateCluster(cluster: cluster, directory: directory, database: database)
        do {
            try await DatabaseAdmin.createDatabaseIfMissing("rollcall", at: database, logger: testLogger)
            _ = try await RegistryDatabase.migrate(database, logger: testLogger)
            let result = try await body(privateCluster)
            await privateCluster.remove()
            return result
        } catch {
            await privateCluster.remove()
            throw error
        }
    }

    private func remove() async {
        await stop()
        try? FileManager.default.removeItem(at: directory)
    }

    public func stop() async {
        let cluster = cluster
        await blocking { cluster.stop() }
    }

    public func start() async throws {
        let cluster = cluster
        _ = try await blocking { () throws(EmbeddedPostgresError) in try cluster.start() }
    }
}
