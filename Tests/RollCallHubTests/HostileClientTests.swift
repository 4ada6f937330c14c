import Foundation
import RollCall
import RollCallTestSupport
import Testing

/// Clients that send what a careful client never would, and a database that refuses a write.
@Suite("Hostile clients")
struct HostileClientTests {
    @Test("a 8 KB user agent of one character and thousands of combining marks is cut in bytes and leaves no ghost")
    func combiningAgent() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let agent = "a" + String(repeating: "\u{0301}", count: 4000)
                let socket = try await hub.connect("zoe", userAgent: agent)
                let watcher = try await hub.watch(["zoe"])
                try await socket.close()
                let offline = try await watcher.socket.frames { $0["type"] as? String == "presence" }
                #expect(offline.last?["online"] as? Bool == false)
                let rows = try await sql(database, "SELECT octet_length(user_agent), connected FROM rollcall.connections WHERE user_id = 'zoe'", as: (Int, Bool).self)
                #expect(rows.count == 1)
                #expect(rows.first.map { $0.0 <= 512 && !$0.1 } == true)
                #expect(try await usersWithWrongCounters(database).isEmpty)
                try await watcher.socket.close()
            }
        }
    }

    @Test("a row the database refuses fails alone: that client gets 1013 and no welcome, the others in its batch are welcomed")
    func refusedRowFailsAlone() async throws {
        try await withTestDatabase { database in
            try await execute(database, """
                CREATE FUNCTION public.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.user_agent = 'poison' THEN RAISE EXCEPTION 'poisoned user agent'; END IF;
                    RETURN NEW;
                END $$
                """)
            try await execute(database, "CREATE TRIGGER refuse_poison BEFORE INSERT ON rollcall.connections FOR EACH ROW EXECUTE FUNCTION public.refuse_poison()")
            var configuration = TestHub.configuration()
            configuration.offlineGrace = .zero
            try await TestHub.run(configuration, database: database) { hub in
                // Opened together, so that they share batches with the poisoned one.
                let (poisoned, others) = try await withThrowingTaskGroup(of: (String, TestSocket).self) { group in
                    group.addTask { ("poison", try await TestSocket.open(url: hub.webSocketURL, token: try await hub.token("pat"), userAgent: "poison")) }
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
                    #expect(try await socket.next()["type"] as? String == "welcome")
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
