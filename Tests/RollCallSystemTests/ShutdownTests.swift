import Foundation
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Shutdown and dead peers", .timeLimit(.minutes(5)))
struct ShutdownTests {
    @Test("SIGTERM closes every socket with 1001, every row as server_shutdown, and marks the hub stopped")
    func sigterm() async throws {
        try await withTestDatabase { database in
            let hub = try await HubProcess.serve(database: database, serverID: "proc-term")
            let authority = try await TestTokens.authority()
            var sockets: [TestSocket] = []
            for user in ["olga", "olga", "pete"] {
                let socket = try await TestSocket.open(
                    url: hub.webSocketURL, token: try await authority.mint(Identity(userID: user), lifetime: .seconds(600)))
                #expect(try await socket.next().type == "welcome")
                sockets.append(socket)
            }
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self) == [3])

            hub.signal(SIGTERM)
            for socket in sockets {
                let code = try await socket.waitUntilClosed()
                #expect(code == 1001, "close code \(String(describing: code))")
            }
            #expect(try await hub.waitForExit() == 0, "hub log: \(hub.log)")

            let rows = try await sql(database, "SELECT connected, close_reason FROM rollcall.connections", as: (Bool, String?).self)
            #expect(rows.count == 3)
            #expect(rows.allSatisfy { !$0.0 && $0.1 == "server_shutdown" })
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.users WHERE online OR connections <> 0", as: Int.self) == [0])
            #expect(
                try await sql(database, "SELECT stopped_at IS NOT NULL FROM rollcall.servers WHERE server_id = 'proc-term'", as: Bool.self) == [true])
        }
    }

    @Test("a peer that never answers the close does not hold up SIGTERM: its connection is cut, its row closed, the hub exits 0")
    func silentPeerAtShutdown() async throws {
        try await withTestDatabase { database in
            let hub = try await HubProcess.serve(database: database, serverID: "proc-silent")
            let authority = try await TestTokens.authority()
            let peer = try RawClient.mutePeer(port: hub.port, token: try await authority.mint(Identity(userID: "sid"), lifetime: .seconds(600)))
            try await eventually("sid's row opened") {
                try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self) == [1]
            }
            hub.signal(SIGTERM)
            // The drain waits 10 s for the close handshake; the hub's own patience is 45 s more.
            #expect(try await hub.waitForExit(timeout: .seconds(40)) == 0, "hub log: \(hub.log)")
            #expect(hub.log.contains("cut the connections of sockets that did not answer the close"))
            #expect(
                try await sql(database, "SELECT coalesce(close_reason, 'open') FROM rollcall.connections", as: String.self) == ["server_shutdown"])
            peer.hangUp()
        }
    }

    @Test("connections that have not sent a whole request do not hold up SIGTERM: the hub records its shutdown and exits 0")
    func unfinishedRequestsAtShutdown() async throws {
        try await withTestDatabase { database in
            let hub = try await HubProcess.serve(database: database, serverID: "proc-idle")
            // One connection that says nothing, one that stops inside its request head, one inside an upgrade's head.
            let quiet = try RawClient(port: hub.port)
            let partial = try RawClient(port: hub.port)
            partial.send("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            let upgrading = try RawClient(port: hub.port)
            upgrading.send("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
            try await Task.sleep(for: .milliseconds(300))

            hub.signal(SIGTERM)
            // Held by them, the hub would give up at its 45 s patience and exit 1 without recording its stop.
            let status = try await hub.waitForExit(timeout: .seconds(40))
            #expect(status == 0, "exit status \(status); hub log: \(hub.log)")
            #expect(hub.log.contains("hub stopped"))
            #expect(
                try await sql(database, "SELECT stopped_at IS NOT NULL FROM rollcall.servers WHERE server_id = 'proc-idle'", as: Bool.self) == [true])
            for client in [quiet, partial, upgrading] {
                #expect(client.readUntilClosed().isEmpty, "nothing was asked, so nothing is answered")
                client.hangUp()
            }
        }
    }

    @Test("a database statement that never answers does not hold up SIGTERM: the hub records its stop and exits 0 within 15 s")
    func hungStatementAtShutdown() async throws {
        // A backend is stopped with SIGSTOP: a cluster of its own, so no other test shares it.
        try await PrivateCluster.with { cluster in
            let database = cluster.database
            try await execute(
                database,
                """
                INSERT INTO rollcall.connections (connection_id, user_id, server_id, created_at, connected, disconnected_at, close_reason)
                VALUES (gen_random_uuid(), 'old', 'gone', now() - interval '2 days', false, now() - interval '1 day', 'client_closed')
                """)
            // The purge (and so the sweep) runs once the hub has been in contact for a whole
            // window: beats with room to spare on a loaded machine, then a pass every 300 ms.
            let hub = try await HubProcess.serve(
                database: database, serverID: "proc-hung",
                extra: ["--orphan-window", "10s", "--heartbeat-interval", "5s", "--purge-interval", "300ms", "--retention", "1s"])
            // The retention sweep's DELETE waits for the old row, held here, and is then frozen
            // where it waits: it never answers, whatever its statement or lock timeout says.
            let sweep: pid_t = try await DatabaseAdmin.withConnection(to: database, logger: testLogger) { holder in
                try await holder.query("BEGIN", logger: testLogger)
                try await holder.query("SELECT 1 FROM rollcall.connections WHERE user_id = 'old' FOR UPDATE", logger: testLogger)
                let pid = try await hub.explainingFailure {
                    try await eventuallyValue(timeout: .seconds(90), "the sweep's DELETE waiting for the held row") {
                        try await sql(
                            database,
                            """
                            SELECT pid FROM pg_stat_activity
                            WHERE wait_event_type = 'Lock' AND query LIKE '%DELETE FROM rollcall.connections%' AND pid <> pg_backend_pid()
                            """, as: Int.self
                        ).first
                    }
                }
                kill(pid_t(pid), SIGSTOP)
                try await holder.query("ROLLBACK", logger: testLogger)
                return pid_t(pid)
            }
            defer { kill(sweep, SIGCONT) }

            hub.signal(SIGTERM)
            // Held by the statement, the hub would give up at its 45 s patience and exit 1 without recording its stop.
            let status = try await hub.waitForExit(timeout: .seconds(15))
            #expect(status == 0, "exit status \(status); hub log: \(hub.log)")
            #expect(hub.log.contains("hub stopped"))
            #expect(
                try await sql(database, "SELECT stopped_at IS NOT NULL FROM rollcall.servers WHERE server_id = 'proc-hung'", as: Bool.self) == [true])
        }
    }

    /// A client on a plain socket that writes what it is given and nothing more.
    final class RawClient {
        let descriptor: Int32

        init(port: Int) throws {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        }

        /// A client that completes the upgrade, reads the answer once, and then neither reads nor
        /// writes: it never answers the hub's close.
        static func mutePeer(port: Int, token: String) throws -> RawClient {
            let client = try RawClient(port: port)
            client.send(
                [
                    "GET /v1/ws HTTP/1.1", "Host: 127.0.0.1:\(port)", "Upgrade: websocket", "Connection: Upgrade",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "Authorization: Bearer \(token)",
                ].joined(separator: "\r\n") + "\r\n\r\n")
            var answer = [UInt8](repeating: 0, count: 4096)
            _ = recv(client.descriptor, &answer, answer.count, 0)
            return client
        }

        func send(_ text: String) {
            _ = text.withCString { write(descriptor, $0, strlen($0)) }
        }

        /// Everything the hub writes until it closes the connection.
        func readUntilClosed() -> [UInt8] {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                guard count > 0 else { break }
                received += buffer[..<count]
            }
            return received
        }

        func hangUp() { close(descriptor) }
    }

    @Test("a peer that stops answering pings is dropped and its row closed as timeout")
    func deadPeer() async throws {
        try await withTestDatabase { database in
            var configuration = TestHub.configuration()
            configuration.pingInterval = .milliseconds(300)
            try await TestHub.run(configuration, database: database) { hub in
                let peer = try await SilentPeer.connect(port: hub.port, token: try await hub.token("quinn"))
                try await eventually("quinn's row opened") {
                    try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE user_id = 'quinn'", as: Int.self) == [1]
                }
                try await eventually("quinn dropped") {
                    try await sql(
                        database, "SELECT close_reason FROM rollcall.connections WHERE user_id = 'quinn' AND NOT connected", as: String.self)
                        == ["timeout"]
                }
                #expect(try await sql(database, "SELECT online FROM rollcall.users WHERE user_id = 'quinn'", as: Bool.self) == [false])
                await peer.hangUp()
            }
        }
    }
}
