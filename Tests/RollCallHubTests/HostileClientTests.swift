import Foundation
import PostgresNIO
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Synchronization
import Testing

/// Clients that send what a careful client never would, and a database that refuses a write.
@Suite("Hostile clients", .timeLimit(.minutes(5)))
struct HostileClientTests {
    @Test("a 8 KB user agent of one character and thousands of combining marks is cut in bytes and leaves no ghost")
    func combiningAgent() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let agent = "a" + String(repeating: "\u{0301}", count: 4000)
                let socket = try await hub.connect("zoe", userAgent: agent)
                let watcher = try await hub.watch(["zoe"])
                try await socket.close()
                let offline = try await watcher.socket.frames { $0.type == "presence" }
                #expect(offline.last?.transition?.online == false)
                let rows = try await sql(
                    database, "SELECT octet_length(user_agent), connected FROM rollcall.connections WHERE user_id = 'zoe'", as: (Int, Bool).self)
                #expect(rows.count == 1)
                #expect(rows.first.map { $0.0 <= 512 && !$0.1 } == true)
                #expect(try await usersWithWrongCounters(database).isEmpty)
                try await watcher.socket.close()
            }
        }
    }

    @Test("past the per-user cap or an open rate an upgrade gets 429 rate_limited and no row; a closed socket frees its place")
    func openLimits() async throws {
        try await withTestDatabase { database in
            var configuration = TestHub.configuration()
            // Refills too slow to matter while the test runs: the counts below do not depend on its speed.
            configuration.openLimits = .init(
                maxSocketsPerUser: 3, userOpens: .init(perSecond: 0.01, burst: 5), addressOpens: .init(perSecond: 0.01, burst: 10))
            configuration.trustedProxies = try TrustedProxies(parsing: "127.0.0.1")
            try await TestHub.run(configuration, database: database) { hub in
                var tabs: [TestSocket] = []
                for _ in 0..<3 { tabs.append(try await hub.connect("ada")) }
                let capped = try await hub.get("/v1/ws", token: try await hub.token("ada"), headers: TestHub.upgradeHeaders)
                #expect(capped.status == 429)
                #expect(capped.body.contains("\"rate_limited\"") && capped.body.contains("3 sockets"))

                try await tabs.removeFirst().close()
                // The cap frees the place when the closed socket's channel is gone.
                // Each attempt refused before the close frees the place counts as limited too.
                let capRefusals = Tally()
                let reopened = try await eventuallyValue("a place under the cap") { () -> TestSocket? in
                    if let socket = try? await hub.connect("ada") { return socket }
                    capRefusals.add()
                    return nil
                }
                #expect(try await reopened.roundTrip())
                let rows = try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE user_id = 'ada'", as: Int.self)
                #expect(rows == [4], "the refused upgrade left no row")

                // Ten opens from one address (its burst), from ten users; the eleventh is refused.
                func open(_ user: String, from address: String) async throws -> Int {
                    let headers = TestHub.upgradeHeaders.merging(["X-Forwarded-For": address]) { $1 }
                    return try await hub.get("/v1/ws", token: try await hub.token(user), headers: headers).status
                }
                for index in 0..<10 { #expect(try await open("crowd-\(index)", from: "192.0.2.1") == 101) }
                #expect(try await open("crowd-10", from: "192.0.2.1") == 429)
                #expect(try await open("crowd-10", from: "192.0.2.2") == 101, "another address is not affected")

                let metrics = try await hub.get("/metrics").body
                #expect(metrics.contains("rollcall_connections_limited_total \(2 + capRefusals.count)"))
                for tab in tabs + [reopened] { try await tab.close() }
            }
        }
    }

    @Test("a NOTIFY from a SQL session, unsigned, signed with another key or replayed, reaches nobody and is counted")
    func forgedNotifications() async throws {
        try await withTestDatabase { database in
            let tap = PresenceTap()
            try await tap.listen(database) {
                try await TestHub.run(database: database) { hub in
                    let (watcher, _) = try await hub.watch(["mallory", "marker", "genuine"])
                    let bob = try await hub.connect("bob")
                    let genuine = try await hub.connect("genuine")
                    _ = try await watcher.frames(until: { $0.isPresence(of: "genuine") })
                    let sealed = try await eventuallyValue("the genuine payload heard") { tap.rawPayloads.first }

                    let now = Date()
                    let forgedPresence = PresenceNotification.payloads(
                        server: "hub-x", events: [PresenceTransition(userID: "mallory", online: true, version: 99, at: now, connections: 1)])[0]
                    let forgedMessage = MessageNotification.payloads(
                        messages: [UserMessage(to: "bob", from: "admin", data: .string("reset your password here"), at: now).json], stored: [])[0]
                    let otherKey = NotifySeal(secret: "a secret that is not the hubs' secret!!")
                    try await DatabaseAdmin.withConnection(to: database, logger: testLogger) { analyst in
                        try await analyst.query("SET ROLE rollcall_analyst", logger: testLogger)
                        for (channel, payload) in [
                            ("rollcall_presence", forgedPresence),
                            ("rollcall_messages", forgedMessage),
                            ("rollcall_presence", otherKey.seal(forgedPresence, channel: "rollcall_presence")),
                            ("rollcall_presence", sealed),
                        ] {
                            try await analyst.query("SELECT pg_notify(\(channel), \(payload))", logger: testLogger)
                        }
                    }
                    // A transition committed after the forgeries: whatever they caused has arrived before it.
                    let marker = try await hub.connect("marker")
                    let heard = try await watcher.frames(until: { $0.isPresence(of: "marker") })
                    #expect(!heard.contains { $0.isPresence(of: "mallory") }, "forged presence reached a watcher: \(heard)")
                    #expect(!heard.contains { $0.isPresence(of: "genuine") }, "a replayed transition reached a watcher")
                    try await bob.send(#"{"type":"ping","id":"after"}"#)
                    let bobHeard = try await bob.frames { $0.type == "pong" }
                    #expect(!bobHeard.contains { $0.type == "message" }, "a forged message reached bob")

                    try await eventually("four rejections counted") {
                        try await hub.get("/metrics").body.contains("rollcall_notifications_rejected_total 4")
                    }
                    for socket in [watcher, bob, genuine, marker] { try await socket.close() }
                }
            }
        }
    }

    @Test("the writer's sessions give up a lock wait at half of --write-deadline and a statement at four fifths")
    func writeDeadlineBoundsSessions() async throws {
        try await withTestDatabase { database in
            // What the backend that wrote the row was bound by, read from the backend itself.
            try await Self.noteEachRowWriter(
                database, in: "writer_limits (lock_timeout text, statement_timeout text)",
                values: "current_setting('lock_timeout'), current_setting('statement_timeout')")
            var configuration = TestHub.configuration()
            configuration.writeDeadline = .seconds(30)
            try await TestHub.run(configuration, database: database) { hub in
                try await hub.connect("ada").close()
            }
            let limits = try await sql(database, "SELECT lock_timeout || ' ' || statement_timeout FROM public.writer_limits", as: String.self)
            #expect(limits == ["15s 24s"])
        }
    }

    @Test("reads the database holds up do not hold up opens: the writer has connections of its own")
    func readFloodSparesWriter() async throws {
        try await withTestDatabase { database in
            // Which backend wrote each connection row: the evidence, read from the database itself.
            try await Self.noteEachRowWriter(database, in: "row_writers (user_id text, pid int)", values: "NEW.user_id, pg_backend_pid()")
            var configuration = TestHub.configuration()
            // No heartbeat while the test holds a lock on the servers table.
            configuration.heartbeatInterval = .seconds(3600)
            configuration.orphanWindow = .seconds(7200)
            try await TestHub.run(configuration, database: database) { hub in
                let admin = try await hub.token("root", admin: true)
                let answered = Tally()
                try await DatabaseAdmin.withConnection(to: database, logger: testLogger) { locker in
                    try await locker.query("BEGIN", logger: testLogger)
                    try await locker.query("LOCK TABLE rollcall.servers IN ACCESS EXCLUSIVE MODE", logger: testLogger)
                    try await withThrowingTaskGroup(of: Void.self) { reads in
                        for _ in 0..<12 {
                            reads.addTask {
                                _ = try await hub.get("/v1/servers", token: admin)
                                answered.add()
                            }
                        }
                        // Six: the whole read pool. A read gives up on the lock after the hubs'
                        // lock_timeout (5 s) and the next queued one takes its connection, so the
                        // pool's backends stay the same however slow the machine is.
                        let readers = try await eventuallyValue("every read connection waiting on the lock") {
                            let waiting = try await Self.sessionsWaitingOnLocks(database)
                            return waiting.count >= 6 ? Set(waiting) : nil
                        }
                        let socket = try await hub.connect("opener")
                        let writers = try await sql(database, "SELECT pid FROM public.row_writers WHERE user_id = 'opener'", as: Int.self)
                        #expect(writers.count == 1)
                        #expect(writers.allSatisfy { !readers.contains($0) }, "the open was written by a read connection: \(writers) in \(readers)")
                        try await locker.query("ROLLBACK", logger: testLogger)
                        try await reads.waitForAll()
                        try await socket.close()
                    }
                }
                #expect(answered.count == 12)
            }
        }
    }

    final class Tally: Sendable {
        private let value = Mutex(0)
        func add() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    /// A table `public.<table>` that gets `values`, evaluated by the backend that writes it, for
    /// each connection row inserted: what the database itself saw of the hub's writer.
    static func noteEachRowWriter(_ database: DatabaseLocation, in table: String, values: String) async throws {
        // Names and expressions of the test's own, not values: written into the SQL as they are.
        let name = String(table.prefix { $0 != " " })
        for statement in [
            "CREATE TABLE public.\(table)",
            """
            CREATE FUNCTION public.note_\(name)() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO public.\(name) VALUES (\(values));
                RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER note_\(name) AFTER INSERT ON rollcall.connections FOR EACH ROW EXECUTE FUNCTION public.note_\(name)()",
        ] {
            try await execute(database, PostgresQuery(unsafeSQL: statement))
        }
    }

    /// The backends of this database waiting for a lock.
    static func sessionsWaitingOnLocks(_ database: DatabaseLocation) async throws -> [Int] {
        try await sql(database, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", as: Int.self)
    }

    @Test("a row the database refuses fails alone: that client gets 1013 and no welcome, the others in its batch are welcomed")
    func refusedRowFailsAlone() async throws {
        try await withTestDatabase { database in
            try await refusePoisonedRows(database)
            var configuration = TestHub.configuration()
            configuration.offlineGrace = .zero
            try await TestHub.run(configuration, database: database) { hub in
                // Opened together, so that they share batches with the poisoned one.
                let (poisoned, others) = try await withThrowingTaskGroup(of: (String, TestSocket).self) { group in
                    group.addTask {
                        ("poison", try await TestSocket.open(url: hub.webSocketURL, token: try await hub.token("pat"), userAgent: "poison"))
                    }
                    for index in 0..<12 {
                        group.addTask { ("ok", try await TestSocket.open(url: hub.webSocketURL, token: try await hub.token("ok-\(index)"))) }
                    }
                    var poisoned: TestSocket?
                    var others: [TestSocket] = []
                    for try await (kind, socket) in group {
                        if kind == "poison" { poisoned = socket } else { others.append(socket) }
                    }
                    return (poisoned!, others)
                }
                #expect(try await poisoned.waitUntilClosed() == 1013)
                #expect(try await poisoned.nextOrNil(timeout: .seconds(1)) == nil)
                for socket in others {
                    #expect(try await socket.next().type == "welcome")
                }
                #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE user_id = 'pat'", as: Int.self) == [0])
                #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self) == [12])
                for socket in others { try await socket.close() }
                try await eventually("every row closed") {
                    try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self) == [0]
                }
                #expect(try await usersWithWrongCounters(database).isEmpty)
            }
        }
    }
}
