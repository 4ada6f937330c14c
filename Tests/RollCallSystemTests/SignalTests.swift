import Foundation
import NIOCore
import NIOPosix
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

/// `rollcall serve` as a real process, stopped by a signal or a taken port at each stage of its life.
@Suite("Stopping a hub from every stage", .timeLimit(.minutes(5)))
struct SignalTests {
    /// A data directory of the test's own for the embedded default; its cluster is stopped and
    /// the directory removed afterwards, whatever the hub left.
    static func withDataDirectory(_ body: (URL) async throws -> Void) async throws {
        let directory = URL(fileURLWithPath: "/tmp/rollcall-signal-\(UUID().uuidString.prefix(8))", isDirectory: true)
        func remove() async {
            await blocking {
                if let cluster = try? EmbeddedPostgres(dataDirectory: directory, logger: testLogger), cluster.isRunning() { cluster.stop() }
            }
            try? FileManager.default.removeItem(at: directory)
        }
        do {
            try await body(directory)
        } catch {
            await remove()
            throw error
        }
        await remove()
    }

    static func clusterRunning(in directory: URL) async throws -> Bool {
        try await blocking { () throws(EmbeddedPostgresError) in try EmbeddedPostgres(dataDirectory: directory, logger: testLogger).isRunning() }
    }

    /// A TCP listener on loopback that accepts and never answers: a database that hangs.
    static func withSilentListener(_ body: (Int) async throws -> Void) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        try await body(server.localAddress?.port ?? 0)
    }

    @Test("a taken port: one clear line, a non-zero exit, and the embedded cluster it started stopped")
    func portInUse() async throws {
        try await Self.withSilentListener { port in
            try await Self.withDataDirectory { directory in
                let hub = try HubProcess.start(["serve", "--port", "\(port)", "--data-dir", directory.path])
                let status = try await hub.waitForExit(timeout: .seconds(90))
                #expect(status != 0)
                #expect(hub.log.contains("port \(port) is in use"), "hub log: \(hub.log)")
                #expect(try await !Self.clusterRunning(in: directory))
            }
        }
    }

    @Test("SIGTERM while the embedded cluster is being created: the hub exits and stops the cluster it started")
    func whileStarting() async throws {
        try await Self.withDataDirectory { directory in
            let hub = try HubProcess.start(["serve", "--port", "0", "--data-dir", directory.path])
            try hub.signalWhenLogged("creating embedded PostgreSQL cluster")
            #expect(try await hub.waitForExit(timeout: .seconds(90)) != 0)
            #expect(hub.log.contains("stopped by SIGTERM before the hub was serving"), "hub log: \(hub.log)")
            #expect(try await !Self.clusterRunning(in: directory))
        }
    }

    @Test("SIGTERM while migrations wait for another hub's lock: the hub exits and says it never served")
    func whileMigrating() async throws {
        try await withTestDatabase { database in
            try await DatabaseAdmin.withConnection(to: database, logger: testLogger) { connection in
                try await connection.query("SELECT pg_advisory_lock(\(Migrator.lockKey))", logger: testLogger)
                let url = HubProcess.databaseURL(database)
                let hub = try HubProcess.start([
                    "serve", "--port", "0", "--server-id", "migrating", "--database-url", url, "--jwt-secret", TestHub.secret,
                ])
                try await eventually("the hub to wait for the migration lock") {
                    // pg_locks is the whole cluster's: only this test's database counts.
                    try await sql(
                        database,
                        """
                        SELECT count(*)::int FROM pg_locks
                        WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        """, as: Int.self) == [1]
                }
                hub.signal(SIGTERM)
                #expect(try await hub.waitForExit(timeout: .seconds(90)) != 0)
                #expect(hub.log.contains("stopped by SIGTERM before the hub was serving"), "hub log: \(hub.log)")
                #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.servers WHERE server_id = 'migrating'", as: Int.self) == [0])
            }
        }
    }

    @Test("SIGTERM while the database never answers at startup: the hub exits")
    func whileDatabaseHangs() async throws {
        try await Self.withSilentListener { port in
            let hub = try HubProcess.start([
                "serve", "--port", "0", "--database-url", "postgres://rollcall@127.0.0.1:\(port)/rollcall", "--jwt-secret", TestHub.secret,
            ])
            try await hub.waitForLog("database")
            try await Task.sleep(for: .milliseconds(500))
            hub.signal(SIGTERM)
            #expect(try await hub.waitForExit(timeout: .seconds(90)) != 0)
            #expect(hub.log.contains("stopped by SIGTERM before the hub was serving"), "hub log: \(hub.log)")
        }
    }

    @Test("SIGTERM while serving with the database gone: the hub gives up on its closes and exits")
    func whileDatabaseGone() async throws {
        try await PrivateCluster.with { cluster in
            let hub = try await HubProcess.serve(database: cluster.database, serverID: "orphaned-at-exit")
            let authority = try await TestTokens.authority()
            let socket = try await TestSocket.open(
                url: hub.webSocketURL, token: try await authority.mint(Identity(userID: "quinn"), lifetime: .seconds(600)))
            #expect(try await socket.next().type == "welcome")
            await cluster.stop()
            hub.signal(SIGTERM)
            #expect(try await socket.waitUntilClosed() == 1001)
            _ = try await hub.waitForExit(timeout: .seconds(120))
            #expect(hub.log.contains("giving up"), "hub log: \(hub.log)")
        }
    }

    @Test("the embedded default keeps the hub's secrets from PostgreSQL, its log private, and gives a --port 0 hub an id of its own")
    func embeddedHygiene() async throws {
        try await Self.withDataDirectory { directory in
            let secret = "a-secret-the-database-server-must-never-see-0123456789"
            let hub = try HubProcess.start(["serve", "--port", "0", "--data-dir", directory.path], environment: ["ROLLCALL_JWT_SECRET": secret])
            try await hub.waitForLog("hub listening")
            let postmaster = try String(contentsOf: directory.appendingPathComponent("postgres/postmaster.pid"), encoding: .utf8)
            let serverPID = try #require(postmaster.split(separator: "\n").first.map(String.init))
            let environment = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(serverPID)/environ"))
            #expect(!String(decoding: environment, as: UTF8.self).contains("ROLLCALL_JWT_SECRET"))
            #expect(!String(decoding: environment, as: UTF8.self).contains(secret))
            let mode =
                try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("postgres.log").path)[.posixPermissions] as? Int
            #expect(mode.map { $0 & 0o077 } == 0, "postgres.log mode \(String(mode ?? 0, radix: 8))")
            let listening = try #require(hub.log.split(separator: "\n").first { $0.contains("hub listening") })
            let serverID = try #require(listening.split(separator: " ").first { $0.hasPrefix("server_id=") })
            #expect(!serverID.hasSuffix(":0"), "\(serverID)")
            hub.signal(SIGTERM)
            #expect(try await hub.waitForExit(timeout: .seconds(90)) == 0)
            #expect(try await !Self.clusterRunning(in: directory))
        }
    }
}
