import Foundation
import RollCall
import RollCallHub
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Database outages", .timeLimit(.minutes(5)))
struct OutageTests {
    @Test("PostgreSQL down longer than the window under two hubs: sockets survive, closes are kept, nobody is purged, watchers converge")
    func outageLongerThanWindow() async throws {
        try await PrivateCluster.with { cluster in
            let database = cluster.database
            let authority = try await TestTokens.authority()
            let a = try await HubProcess.serve(database: database, serverID: "hub-a", extra: HubProcess.fast)
            let b = try await HubProcess.serve(database: database, serverID: "hub-b", extra: HubProcess.fast)
            let watcher = try await b.connect("watcher", authority: authority)
            try await watcher.send(#"{"type":"subscribe","users":["kim","lee","max"]}"#)
            #expect(try await watcher.next().type == "snapshot")
            let kim = try await a.connect("kim", authority: authority)
            let lee = try await b.connect("lee", authority: authority)
            let max = try await a.connect("max", authority: authority)
            _ = try await watcher.frames(until: { $0.isPresence(of: "max") })
            // lee (hub B) and max (hub A) share a room.
            try await lee.send(#"{"type":"join","id":"j","room":"doc-1"}"#)
            #expect(try await lee.next().roomSnapshot?.version == 1)
            try await max.send(#"{"type":"join","id":"j","room":"doc-1","state":{"status":"typing"}}"#)
            #expect(try await max.next().roomSnapshot?.version == 2)
            #expect(try await lee.next().roomEvent.map { "\($0.event) \($0.userID) \($0.version)" } == "joined max 2")

            await cluster.stop()
            let newcomer = try await authority.mint(Identity(userID: "newcomer"), lifetime: .seconds(600))
            try await eventually("hub A to refuse new sockets with 503") {
                try await HTTPProbe.upgradeStatus(port: a.port, token: newcomer) == 503
            }
            #expect(try await HTTPProbe.status(port: a.port, path: "/readyz") == 503)
            #expect(try await HTTPProbe.metric(port: a.port, "rollcall_database_up") == 0)
            // Messages between sockets of the same hub still arrive; the sender hears other hubs were not reached.
            try await kim.send(#"{"type":"send","id":"m1","to":"max","data":"still here"}"#)
            let answer = try await kim.next()
            #expect(answer.type == "error" && answer.requestID == .string("m1") && answer.errorCode?.rawValue == "unavailable", "\(answer)")
            let delivered = try await max.next()
            #expect(delivered.delivered?.data == .string("still here") && delivered.delivered?.from == "kim")
            try await max.close()  // a close made while the database is gone
            #expect(try await kim.roundTrip(), "open sockets keep working")
            #expect(try await lee.roundTrip(), "open sockets keep working")
            try await Task.sleep(for: .seconds(4))  // longer than the 2 s window, on purpose
            try await cluster.start()

            try await eventually(timeout: .seconds(60), "both hubs ready again") {
                let statuses = [try await HTTPProbe.status(port: a.port, path: "/readyz"), try await HTTPProbe.status(port: b.port, path: "/readyz")]
                return statuses == [200, 200]
            }
            try await eventually("hub A's metrics to say the database is up") {
                try await HTTPProbe.metric(port: a.port, "rollcall_database_up") == 1
            }
            #expect(try await HTTPProbe.metric(port: a.port, "rollcall_heartbeat_failures_total") ?? 0 >= 1)
            try await eventually(timeout: .seconds(30), "max's close written") {
                try await sql(database, "SELECT coalesce(close_reason, '') FROM rollcall.connections WHERE user_id = 'max'", as: String.self) == [
                    "client_closed"
                ]
            }
            // max's close, kept through the outage, took max out of doc-1: lee hears it once.
            let left = try await lee.frames(until: { $0.roomEvent != nil }, timeout: .seconds(30)).compactMap(\.roomEvent)
            #expect(left.map { "\($0.event) \($0.userID) \($0.version) \($0.reason?.rawValue ?? "-")" } == ["left max 3 closed"])
            // Give both hubs a full window and a few purge passes of contact; nobody may be purged.
            try await Task.sleep(for: .seconds(3))
            let open = try await sql(database, "SELECT user_id FROM rollcall.connections WHERE connected ORDER BY 1", as: String.self)
            #expect(open.filter { $0 != "newcomer" } == ["kim", "lee", "watcher"])
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE close_reason = 'orphaned'", as: Int.self) == [0])
            let online = try await sql(database, "SELECT user_id FROM rollcall.users WHERE online ORDER BY 1", as: String.self)
            #expect(online.filter { $0 != "newcomer" } == ["kim", "lee", "watcher"])

            var state: [String: Bool] = [:]
            while state["max"] != false {
                for event in [try await watcher.next(timeout: .seconds(30))].presenceEvents { state[event.user] = event.online }
            }
            try await lee.send(#"{"type":"ping","id":"after"}"#)
            let after = try await lee.frames(until: { $0.requestID == .string("after") })
            #expect(after.compactMap(\.roomEvent).isEmpty, "max left doc-1 once: \(after)")
            let fresh = try await a.connect("new", authority: authority)
            for socket in [kim, lee, fresh, watcher] { try await socket.close() }
            for hub in [a, b] {
                hub.signal(SIGTERM)
                let status = try await hub.waitForExit(timeout: .seconds(60))
                #expect(status == 0, "exit status \(status); the hub's log ends: \(hub.log.suffix(3000))")
            }
        }
    }

    @Test("a message that failed during an outage does not keep the hub refusing sockets once the database is back")
    func failedWriteDoesNotStick() async throws {
        try await PrivateCluster.with { cluster in
            let authority = try await TestTokens.authority()
            // A ten-minute window: no purge pass comes along to write something and clear the failure.
            let hub = try await HubProcess.serve(
                database: cluster.database, serverID: "lonely", extra: ["--orphan-window", "10m", "--heartbeat-interval", "2s"])
            let admin = try await authority.mint(Identity(userID: "ops", isAdmin: true), lifetime: .seconds(600))
            let token = try await authority.mint(Identity(userID: "late"), lifetime: .seconds(600))

            await cluster.stop()
            // Sent before the heartbeat notices: the hub tries to write it and cannot.
            let posted = try await HTTPProbe.post(port: hub.port, path: "/v1/users/amy/messages", token: admin, body: #"{"data":"hello"}"#)
            #expect(posted.status == 503, "\(posted.body)")
            try await cluster.start()

            try await eventually(timeout: .seconds(60), "the hub to welcome sockets again") {
                try await HTTPProbe.upgradeStatus(port: hub.port, token: token) == 101
            }
            hub.signal(SIGTERM)
            let status = try await hub.waitForExit(timeout: .seconds(60))
            #expect(status == 0, "exit status \(status); the hub's log ends: \(hub.log.suffix(3000))")
        }
    }
}
