import Foundation
import RollCall
import RollCallHub
import RollCallPostgres
import RollCallTestSupport
import Testing

/// Hubs as real processes, killed and cut off as in production.
@Suite("Crashes and outages", .timeLimit(.minutes(5)))
struct CrashTests {
    @Test(
        "kill -9 a hub with 50 connections of 20 users while two hubs purge: rows orphaned once, counters exact, one offline per user left with nothing"
    )
    func killNine() async throws {
        try await withTestDatabase { database in
            let authority = try await TestTokens.authority()
            let survivor = try await HubProcess.serve(database: database, serverID: "survivor", extra: HubProcess.fast)
            let second = try await HubProcess.serve(database: database, serverID: "second", extra: HubProcess.fast)
            let doomed = try await HubProcess.serve(database: database, serverID: "doomed", extra: HubProcess.fast)
            let users = (0..<20).map { "user-\($0)" }
            let list = (users + ["marker"]).map { "\"\($0)\"" }.joined(separator: ",")
            // One watcher on each surviving hub: both purge, each must see every transition once.
            var watchers: [TestSocket] = []
            for hub in [survivor, second] {
                let watcher = try await hub.connect("watcher", authority: authority)
                try await watcher.send(#"{"type":"subscribe","users":[\#(list)]}"#)
                #expect(try await watcher.next().type == "snapshot")
                watchers.append(watcher)
            }

            var sockets: [TestSocket] = []
            for index in 0..<50 { sockets.append(try await doomed.connect(users[index % 20], authority: authority)) }
            // Users 0–4 also have a tab on the surviving hub: they stay online.
            var kept: [TestSocket] = []
            for user in users.prefix(5) { kept.append(try await survivor.connect(user, authority: authority)) }
            #expect(
                try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self) == [57],
                "50 + 5 + the watchers")

            doomed.signal(SIGKILL)
            _ = try await doomed.waitForExit()
            try await eventually(timeout: .seconds(30), "the survivor to purge the dead hub's rows") {
                try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE server_id = 'doomed' AND connected", as: Int.self) == [
                    0
                ]
            }
            let reasons = try await sql(
                database, "SELECT DISTINCT close_reason FROM rollcall.connections WHERE server_id = 'doomed'", as: String.self)
            #expect(reasons == ["orphaned"])
            var closedByPurges = 0.0
            for hub in [survivor, second] {
                closedByPurges += try await HTTPProbe.metric(port: hub.port, "rollcall_purge_orphans_closed_total") ?? -1
            }
            #expect(closedByPurges == 50, "the two purges closed 50 rows between them, each once")
            let wrong = try await usersWithWrongCounters(database)
            #expect(wrong.isEmpty)

            let marker = try await survivor.connect("marker", authority: authority)
            for watcher in watchers {
                let frames = try await watcher.frames(until: { $0.isPresence(of: "marker") })
                let offline = frames.presenceEvents.filter { !$0.online }.map(\.user)
                #expect(offline.sorted() == users.dropFirst(5).sorted(), "one offline for each user left with nothing")
                #expect(Set(frames.presenceEvents.filter(\.online).map(\.user)) == Set(users + ["marker"]))
            }

            for socket in kept + [marker] + watchers { try await socket.close() }
            for hub in [survivor, second] {
                hub.signal(SIGTERM)
                #expect(try await hub.waitForExit() == 0)
            }
        }
    }

    @Test("a hub frozen longer than the window is purged, then reopens the rows of the sockets it still holds")
    func frozenHubReopens() async throws {
        try await withTestDatabase { database in
            let authority = try await TestTokens.authority()
            let b = try await HubProcess.serve(database: database, serverID: "steady", extra: HubProcess.fast)
            let a = try await HubProcess.serve(database: database, serverID: "frozen", extra: HubProcess.fast)
            let watcher = try await b.connect("watcher", authority: authority)
            try await watcher.send(#"{"type":"subscribe","users":["pia","quin"]}"#)
            _ = try await watcher.next()
            let pia = try await a.connect("pia", authority: authority)
            let quin = try await a.connect("quin", authority: authority)
            _ = try await watcher.frames(until: { $0.isPresence(of: "quin") })

            a.signal(SIGSTOP)  // a long GC pause, a frozen VM: no heartbeats, sockets still open
            try await eventually(timeout: .seconds(30), "the frozen hub's rows purged") {
                try await sql(
                    database, "SELECT count(*)::int FROM rollcall.connections WHERE server_id = 'frozen' AND close_reason = 'orphaned'", as: Int.self)
                    == [2]
            }
            a.signal(SIGCONT)
            try await eventually(timeout: .seconds(30), "rows reopened") {
                try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE server_id = 'frozen' AND connected", as: Int.self) == [
                    2
                ]
            }
            #expect(
                try await sql(database, "SELECT user_id FROM rollcall.users WHERE online AND user_id <> 'watcher' ORDER BY 1", as: String.self) == [
                    "pia", "quin",
                ])
            var state: [String: [Bool]] = [:]
            while state["pia"]?.last != true || state["quin"]?.last != true || (state["pia"]?.count ?? 0) < 2 || (state["quin"]?.count ?? 0) < 2 {
                for event in [try await watcher.next(timeout: .seconds(30))].presenceEvents { state[event.user, default: []].append(event.online) }
            }
            #expect(state["pia"] == [false, true] && state["quin"] == [false, true])
            #expect(try await pia.roundTrip())
            for socket in [pia, quin, watcher] { try await socket.close() }
            for hub in [a, b] {
                hub.signal(SIGTERM)
                #expect(try await hub.waitForExit() == 0)
            }
        }
    }

    @Test("rollcall purge closes a dead hub's rows and says what it did")
    func purgeCommand() async throws {
        try await withTestDatabase { database in
            try await execute(
                database,
                "INSERT INTO rollcall.servers (server_id, heartbeat_at, version, host) VALUES ('gone', now() - interval '5 minutes', 't', 'h')")
            try await execute(
                database,
                "INSERT INTO rollcall.connections (connection_id, user_id, server_id) VALUES (gen_random_uuid(), 'ivy', 'gone'), (gen_random_uuid(), 'ivy', 'gone')"
            )
            try await execute(database, "INSERT INTO rollcall.users (user_id, online, connections, version) VALUES ('ivy', true, 2, 1)")
            guard case .unixSocket(let directory, let port) = database.endpoint else { return }
            let url = "postgres://\(database.username)@/\(database.database)?host=\(directory)&port=\(port)"
            let result = try await HubProcess.run([
                "purge", "--database-url", url, "--jwt-secret", TestHub.secret, "--orphan-window", "1m", "--log-level", "error",
            ])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("closed 2 orphaned rows (gone: 2)"))
            #expect(result.output.contains("users taken offline: 1"))
            #expect(try await sql(database, "SELECT online FROM rollcall.users", as: Bool.self) == [false])
        }
    }
}
