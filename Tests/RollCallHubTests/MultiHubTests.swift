import Foundation
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

/// Three hubs on one database, as behind a load balancer.
@Suite("Many hubs, one truth", .timeLimit(.minutes(5)))
struct MultiHubTests {
    @Test("tabs on hubs A and B, watcher on C: one online, nothing when one tab closes, one offline after the last")
    func tabsAcrossHubs() async throws {
        try await withTestDatabase { database in
            try await TestHub.three(database) { a, b, c in
                let (watcher, snapshot) = try await c.watch(["rita", "marker"])
                #expect(snapshot.map(\.online) == [false, false])

                let first = try await a.connect("rita")
                let second = try await b.connect("rita")
                let online = try await watcher.next()
                #expect(online.transition?.online == true && online.transition?.version == 1)

                try await first.close()
                // A marker transition committed after the close: everything before it has arrived.
                let marker = try await b.connect("marker")
                let beforeMarker = try await watcher.frames(until: { $0.isPresence(of: "marker") })
                #expect(beforeMarker.transitions.map(\.userID) == ["marker"])

                try await second.close()
                let offline = try await watcher.frames(until: { $0.isPresence(of: "rita") })
                #expect(offline.transitions.map { [$0.online ? 1 : 0, $0.version] } == [[0, 2]])
                try await marker.close()
                let afterwards = try await watcher.frames(until: { $0.isPresence(of: "marker") })
                #expect(afterwards.transitions.map(\.userID) == ["marker"])
                try await watcher.close()
            }
        }
    }

    @Test("a reload within the grace publishes nothing; staying away publishes one offline")
    func offlineGrace() async throws {
        try await withTestDatabase { database in
            // A grace long enough for the reload to land within it on a busy machine: the test
            // waits through it twice.
            try await TestHub.three(database, grace: .seconds(10)) { a, b, c in
                let (watcher, _) = try await c.watch(["sam", "marker"])
                let tab = try await a.connect("sam")
                #expect([try await watcher.next()].transitions.map(\.online) == [true])

                // Reload: the old socket closes on A, the new one opens on B within the grace.
                try await tab.close()
                let reloaded = try await b.connect("sam")
                // The old socket's row closes once A's writer has it: wait for that, not for time.
                try await eventually("the old tab's row closed") {
                    try await sql(database, "SELECT connections FROM rollcall.users WHERE user_id = 'sam'", as: Int.self) == [1]
                }
                try await Task.sleep(for: .milliseconds(10_500))  // past the grace, on purpose: nothing may come
                let marker = try await a.connect("marker")
                let meanwhile = try await watcher.frames(until: { $0.isPresence(of: "marker") })
                #expect(meanwhile.transitions.map(\.userID) == ["marker"], "a reload must not reach watchers")

                try await reloaded.close()
                let offline = try await watcher.frames(until: { $0.isPresence(of: "sam") })
                #expect(offline.transitions.map(\.online) == [false])
                let sam = try await sql(database, "SELECT online, version FROM rollcall.users WHERE user_id = 'sam'", as: (Bool, Int64).self)
                #expect(sam.count == 1 && sam[0].0 == false && sam[0].1 == 2)
                try await marker.close()
                try await watcher.close()
            }
        }
    }

    @Test("300 rapid connect/close cycles across two hubs: the watcher ends where the database is, versions only grow")
    func rapidCycles() async throws {
        try await withTestDatabase { database in
            try await TestHub.three(database, grace: .zero) { a, b, c in
                let (watcher, _) = try await c.watch(["tess", "marker"])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for hub in [a, b] {
                        group.addTask {
                            for _ in 0..<150 {
                                let socket = try await hub.connect("tess")
                                try await socket.close()
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                // A client's close returns before its hub has written the row's close: wait until
                // every close is in the database, then mark the end of the stream.
                try await eventually(timeout: .seconds(60), "every close of tess committed") {
                    try await sql(database, "SELECT connections FROM rollcall.users WHERE user_id = 'tess'", as: Int.self) == [0]
                }
                let marker = try await a.connect("marker")
                let frames = try await watcher.frames(until: { $0.isPresence(of: "marker") }, timeout: .seconds(60))
                let events = frames.transitions.filter { $0.userID == "tess" }
                let database = try await sql(database, "SELECT online, version FROM rollcall.users WHERE user_id = 'tess'", as: (Bool, Int64).self)
                #expect(!events.isEmpty)
                #expect(zip(events, events.dropFirst()).allSatisfy { $0.version < $1.version }, "versions strictly increase")
                #expect(events.last?.online == database.first?.0 && events.last?.version == database.first?.1)
                try await marker.close()
                try await watcher.close()
            }
        }
    }

    @Test("a watcher converges after its hub's LISTEN connection is killed while changes happen; /readyz says so")
    func listenerKilled() async throws {
        try await withTestDatabase { database in
            try await TestHub.three(database, grace: .zero) { a, b, _ in
                let (watcher, _) = try await a.watch(["uma", "vic"])
                let uma = try await b.connect("uma")
                #expect([try await watcher.next()].transitions.map(\.userID) == ["uma"])

                // Keep killing every LISTEN backend while presence changes on hub B.
                let vic = try await withThrowingTaskGroup(of: Void.self) { killer in
                    killer.addTask {
                        while !Task.isCancelled {
                            try? await execute(
                                database,
                                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'")
                            try? await Task.sleep(for: .milliseconds(20))
                        }
                    }
                    defer { killer.cancelAll() }
                    try await eventually("hub A to report the outage") { try await a.get("/readyz").status == 503 }
                    try await uma.close()
                    return try await b.connect("vic")
                }

                try await eventually("hub A ready again") { try await a.get("/readyz").status == 200 }
                var seen: [String: (Bool, Int64)] = [:]
                while seen["uma"]?.0 != false || seen["vic"]?.0 != true {
                    for event in [try await watcher.next()].transitions { seen[event.userID] = (event.online, event.version) }
                }
                let stored = try await sql(
                    database, "SELECT user_id, online, version FROM rollcall.users WHERE user_id IN ('uma', 'vic') ORDER BY 1",
                    as: (String, Bool, Int64).self)
                #expect(
                    stored.map { "\($0.0) \($0.1) \($0.2)" } == [
                        "uma \(seen["uma"]!.0) \(seen["uma"]!.1)", "vic \(seen["vic"]!.0) \(seen["vic"]!.1)",
                    ])
                try await vic.close()
                try await watcher.close()
            }
        }
    }

    @Test("resuming a dropped connection is welcomed as resumed and makes no transition")
    func resume() async throws {
        try await withTestDatabase { database in
            try await TestHub.three(database, grace: .zero) { a, b, c in
                let (watcher, _) = try await c.watch(["wes", "marker"])
                let (first, welcome) = try await a.connectWelcomed("wes")
                _ = try await watcher.next()
                let id = try #require(welcome.welcomed?.connectionID)
                let (second, resumed) = try await b.connectWelcomed("wes", resume: id.description)
                #expect(resumed.welcomed?.resumed == true)
                try await eventually("old row closed") {
                    try await sql(
                        database, "SELECT coalesce(close_reason, '') FROM rollcall.connections WHERE connection_id = \(id.uuid)", as: String.self)
                        == ["client_closed"]
                }
                let marker = try await a.connect("marker")
                let frames = try await watcher.frames(until: { $0.isPresence(of: "marker") })
                #expect(frames.transitions.map(\.userID) == ["marker"])
                #expect(try await sql(database, "SELECT connections FROM rollcall.users WHERE user_id = 'wes'", as: Int.self) == [1])
                // Someone else's connection id resumes nothing.
                let (other, notResumed) = try await c.connectWelcomed("xena", resume: resumed.welcomed?.connectionID.description)
                #expect(notResumed.welcomed?.resumed == false)
                for socket in [first, second, other, marker, watcher] { try await socket.close() }
            }
        }
    }

    @Test("a token's watch list limits subscriptions; the all feed is for admins")
    func forbidden() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let limited = try await TestSocket.open(url: hub.webSocketURL, token: try await hub.token("yan", watch: ["zoe"]))
                _ = try await limited.next()
                try await limited.send(#"{"type":"subscribe","id":1,"users":["zoe","amy"]}"#)
                let refused = try await limited.next()
                #expect(refused.errorCode?.rawValue == "forbidden" && refused.requestID == .number(1))
                try await limited.send(#"{"type":"subscribe","id":2,"all":true}"#)
                #expect(try await limited.next().errorCode?.rawValue == "forbidden")
                try await limited.send(#"{"type":"subscribe","id":3,"users":["zoe"]}"#)
                #expect(try await limited.next().type == "snapshot")
                try await limited.close()
            }
        }
    }

    @Test("the admin feed sees transitions and connections opened and closed on other hubs")
    func adminFeed() async throws {
        try await withTestDatabase { database in
            try await TestHub.three(database, grace: .zero) { a, b, _ in
                let early = try await b.connect("early")
                let admin = try await a.connect("ops", admin: true)
                try await admin.send(#"{"type":"subscribe","id":"all","all":true}"#)
                let snapshot = try await admin.next()
                #expect(snapshot.type == "snapshot")
                #expect(snapshot.snapshotUsers?.map(\.userID).contains("early") == true)

                let late = try await b.connect("late", userAgent: "Edge")
                try await late.close()
                let frames = try await admin.frames(until: { $0.connectionEvent?.event == .closed && $0.connectionEvent?.userID == "late" })
                let connections = frames.compactMap(\.connectionEvent).filter { $0.userID == "late" }
                #expect(connections.map(\.event) == [.opened, .closed])
                #expect(connections.first?.serverID == "hub-b")
                #expect(connections.first?.userAgent == "Edge")
                #expect(connections.last?.reason == .clientClosed)
                #expect(frames.transitions.filter { $0.userID == "late" }.map(\.online) == [true, false])
                try await early.close()
                try await admin.close()
            }
        }
    }
}
