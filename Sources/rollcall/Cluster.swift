import ArgumentParser
import Foundation
import RollCallPostgres

/// The embedded cluster on its own, for tools that start hubs against it (the bench, a profile):
/// they get the cluster `rollcall serve` would use, made and started the same way.
struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start or stop the embedded PostgreSQL cluster under --data-dir on its own.",
        subcommands: [Start.self, Stop.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start the cluster (made on first use) and print where it is, as JSON: its socket directory, postmaster pid, log and binaries.")

        @OptionGroup var common: CommonOptions

        @Option(help: "max_connections of the cluster.")
        var maxConnections: Int = 200

        func run() async throws {
            let cluster = try EmbeddedPostgres(dataDirectory: common.dataDirectory, maxConnections: maxConnections, logger: common.makeLogger())
            _ = try cluster.start()
            let pidFile = cluster.clusterDirectory.appendingPathComponent("postmaster.pid")
            guard let pid = (try? String(contentsOf: pidFile, encoding: .utf8))?.split(separator: "\n").first.flatMap({ Int($0) }) else {
                throw CommandFailure("the cluster started but \(pidFile.path) names no postmaster")
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let location = Location(
                socketDirectory: cluster.clusterDirectory.path, port: EmbeddedPostgres.port, user: EmbeddedPostgres.superuser,
                postmasterPID: pid, log: cluster.logFile.path, binaries: cluster.binaries.path)
            FileHandle.standardOutput.write(try encoder.encode(location) + Data("\n".utf8))
        }

        struct Location: Encodable {
            let socketDirectory: String
            let port: Int
            let user: String
            let postmasterPID: Int
            let log: String
            /// Where initdb, pg_ctl, postgres (and, with them, psql and pgbench) are.
            let binaries: String

            enum CodingKeys: String, CodingKey {
                case socketDirectory = "socket_directory", port, user, postmasterPID = "postmaster_pid", log, binaries
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the cluster (fast shutdown: open sessions are ended).")

        @OptionGroup var common: CommonOptions

        func run() async throws {
            let cluster = try EmbeddedPostgres(dataDirectory: common.dataDirectory, logger: common.makeLogger())
            if cluster.isRunning() { cluster.stop() }
        }
    }
}
