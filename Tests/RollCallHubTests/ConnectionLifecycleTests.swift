import Foundation
import PostgresNIO
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Every connection a row", .timeLimit(.minutes(5)))
struct ConnectionLifecycleTests {
    @Test("a user with three tabs is online once and goes offline once, when the last tab closes")
    func threeTabs() async throws {
        try await withTestDatabase { database in
            let tap = PresenceTap()
            try await tap.listen(database) {
                try await TestHub.run(database: database) { hub in
                    let tabs = [
                        try await hub.connect("alice", userAgent: "Firefox"),
                        try await hub.connect("alice", userAgent: "Chrome"),
                        try await hub.connect("alice", userAgent: "Safari"),
                    ]
                    #expect(
                        try await sql(database, "SELECT connections, online FROM rollcall.users WHERE user_id = 'alice'", as: (Int, Bool).self).map(
                            \.0) == [3])
                    let open = try await sql(
                        database,
                        "SELECT user_agent, host(remote_addr), connected FROM rollcall.connections WHERE user_id = 'alice' ORDER BY user_agent",
                        as: (String, String, Bool).self)
                    #expect(open.map(\.0) == ["Chrome", "Firefox", "Safari"])
                    #expect(open.allSatisfy { $0.1 == "127.0.0.1" && $0.2 })

                    try await tabs[0].close()
                    try await tabs[1].close()
                    try await eventually("two rows closed") {
                        try await sql(database, "SELECT connections FROM rollcall.users WHERE user_id = 'alice'", as: Int.self) == [1]
                    }
                    #expect(tap.transitions(of: "alice").map(\.online) == [true])
                    try await tabs[2].close()
                    try await eventually("offline heard") { tap.transitions(of: "alice").count == 2 }
                }
            }
            let transitions = tap.transitions(of: "alice")
            #expect(transitions.map(\.online) == [true, false])
            #expect(transitions.map(\.version) == [1, 2])
            let user = try await sql(
                database, "SELECT online, connections, version FROM rollcall.users WHERE user_id = 'alice'", as: (Bool, Int, Int64).self)
            #expect(user.count == 1 && user[0].0 == false && user[0].1 == 0 && user[0].2 == 2)
            let history = try await sql(
                database, "SELECT connected, close_reason, disconnected_at IS NOT NULL FROM rollcall.connections WHERE user_id = 'alice'",
                as: (Bool, String?, Bool).self)
            #expect(history.count == 3)
            #expect(history.allSatisfy { !$0.0 && $0.1 == "client_closed" && $0.2 })
        }
    }

    @Test("200 concurrent connects and closes over 20 users leave exact counters and +1 versions")
    func concurrentChurn() async throws {
        try await withTestDatabase { database in
            let tap = PresenceTap()
            try await tap.listen(database) {
                try await TestHub.run(database: database) { hub in
                    // Every task opens a socket; two thirds of them close it again.
                    let kept = try await withThrowingTaskGroup(of: TestSocket?.self) { group in
                        for index in 0..<200 {
                            group.addTask {
                                let socket = try await hub.connect("user-\(index % 20)")
                                if index % 3 == 0 { return socket }
                                try await socket.close()
                                return nil
                            }
                        }
                        return try await group.reduce(into: [TestSocket]()) { if let socket = $1 { $0.append(socket) } }
                    }
                    #expect(kept.count == 67)
                    try await eventually("closed rows written") {
                        try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self) == [67]
                    }
                    try await eventually("every transition heard") {
                        let versions = try await sql(database, "SELECT coalesce(sum(version), 0)::int FROM rollcall.users", as: Int.self)
                        return versions == [tap.transitions.count]
                    }
                    for socket in kept { #expect(try await socket.roundTrip()) }
                }
                // The shutdown's offline transitions are committed before the hub returns, and
                // heard a moment later: the tap listens until they are.
                try await eventually("the shutdown's offline transitions heard") {
                    (0..<20).allSatisfy { tap.transitions(of: "user-\($0)").last?.online == false }
                }
            }
            let mismatched = try await usersWithWrongCounters(database)
            #expect(mismatched.isEmpty)
            // After graceful shutdown every row is closed and every user offline.
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self) == [0])
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.connections", as: Int.self) == [200])
            for index in 0..<20 {
                let transitions = tap.transitions(of: "user-\(index)")
                #expect(transitions.map(\.version) == Array(1...Int64(transitions.count)), "versions of user-\(index)")
                #expect(zip(transitions, transitions.dropFirst()).allSatisfy { $0.online != $1.online }, "user-\(index) alternates")
                #expect(transitions.first?.online == true && transitions.last?.online == false)
            }
        }
    }

    @Test(
        "odd user ids are stored verbatim",
        arguments: [
            "o'brien", "x\"; DROP TABLE rollcall.users; --", "Robert'); DELETE FROM rollcall.connections;--", "🦊 émilie 漢字",
            String(repeating: "ü", count: 100) + String(repeating: "z", count: 100),
        ])
    func oddUserIDs(user: String) async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let socket = try await hub.connect(user)
                let stored = try await sql(database, "SELECT user_id FROM rollcall.connections WHERE connected", as: String.self)
                #expect(stored == [user])
                let presence = try await sql(database, "SELECT user_id, connections FROM rollcall.users", as: (String, Int).self)
                #expect(presence.count == 1 && presence[0].0 == user && presence[0].1 == 1)
                try await socket.close()
            }
        }
    }

    @Test("a hub restarting with the same server_id closes what its crashed run left open")
    func restartClosesStaleRows() async throws {
        try await withTestDatabase { database in
            // What a hub killed with -9 leaves behind: open rows and counters that count them.
            try await execute(
                database,
                """
                INSERT INTO rollcall.connections (connection_id, user_id, server_id) VALUES
                    (gen_random_uuid(), 'bob', 'hub-a'), (gen_random_uuid(), 'bob', 'hub-a'),
                    (gen_random_uuid(), 'carol', 'hub-a'), (gen_random_uuid(), 'carol', 'hub-b')
                """)
            try await execute(
                database,
                "INSERT INTO rollcall.users (user_id, online, connections, online_since, version) VALUES ('bob', true, 2, now(), 1), ('carol', true, 2, now(), 1)"
            )
            let tap = PresenceTap()
            try await tap.listen(database) {
                try await TestHub.run(TestHub.configuration(serverID: "hub-a"), database: database) { _ in
                    try await eventually("bob offline heard") { tap.transitions(of: "bob").count == 1 }
                }
            }
            let reasons = try await sql(
                database, "SELECT server_id, connected, close_reason FROM rollcall.connections ORDER BY server_id, user_id",
                as: (String, Bool, String?).self)
            #expect(reasons.filter { $0.0 == "hub-a" }.allSatisfy { !$0.1 && $0.2 == "server_restart" })
            #expect(reasons.filter { $0.0 == "hub-b" }.allSatisfy { $0.1 && $0.2 == nil })
            let users = try await sql(
                database, "SELECT user_id, online, connections, version FROM rollcall.users ORDER BY user_id", as: (String, Bool, Int, Int64).self)
            #expect(users[0] == ("bob", false, 0, 2))
            #expect(users[1] == ("carol", true, 1, 1))
            #expect(tap.transitions(of: "bob").map(\.online) == [false])
            #expect(tap.transitions(of: "carol").isEmpty)
        }
    }

    @Test("behind a trusted proxy the row records the client's address from X-Forwarded-For; otherwise the peer's")
    func forwardedFor() async throws {
        try await withTestDatabase { database in
            var configuration = TestHub.configuration()
            configuration.trustedProxies = try TrustedProxies(parsing: "127.0.0.1")
            try await TestHub.run(configuration, database: database) { hub in
                let token = try await hub.token("proxied")
                let socket = try await TestSocket.open(url: hub.webSocketURL, token: token, headers: ["X-Forwarded-For": "198.51.100.1, 203.0.113.9"])
                #expect(try await socket.next().type == "welcome")
                try await socket.close()
            }
            try await TestHub.run(database: database) { hub in
                let token = try await hub.token("direct")
                let socket = try await TestSocket.open(url: hub.webSocketURL, token: token, headers: ["X-Forwarded-For": "203.0.113.9"])
                #expect(try await socket.next().type == "welcome")
                try await socket.close()
            }
            let addresses = try await sql(
                database, "SELECT user_id, host(remote_addr) FROM rollcall.connections ORDER BY user_id", as: (String, String).self)
            #expect(addresses.map(\.0) == ["direct", "proxied"])
            #expect(addresses.map(\.1) == ["127.0.0.1", "203.0.113.9"], "a hub that trusts no proxy ignores the header")
        }
    }
}
