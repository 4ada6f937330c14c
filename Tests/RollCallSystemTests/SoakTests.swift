import Foundation
import RollCall
import RollCallHub
import RollCallPostgres
import RollCallTestSupport
import Testing

/// A seeded random walk through what goes wrong in production, bounded in steps.
@Suite("Soak", .timeLimit(.minutes(10)))
struct SoakTests {
    static let steps = 200
    /// Short windows so kills are purged within the test; a grace so dead hubs leave graces pending.
    static let options = ["--orphan-window", "2s", "--heartbeat-interval", "300ms", "--purge-interval", "300ms", "--offline-grace", "300ms"]

    struct Tab {
        let socket: TestSocket
        let hub: Int
        let id: String
    }

    @Test("connects, closes, kill -9 and restarts, LISTEN drops and a database restart end with no ghost and no lost row")
    func soak() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["ROLLCALL_SOAK_SEED"] ?? "") ?? 20_261_122
        var walk = SeededRandom(seed: seed)
        try await PrivateCluster.with { cluster in
            let database = cluster.database
            let authority = try await TestTokens.authority()
            let users = (0..<8).map { "soak-\($0)" }
            var hubs: [HubProcess?] = []
            for index in 0..<3 { hubs.append(try await HubProcess.serve(database: database, serverID: "soak-hub-\(index)", extra: Self.options)) }
            // The watcher sits on hub 0, which is never killed.
            let watcher = try await hubs[0]!.connect("soak-watcher", authority: authority)
            try await watcher.send(#"{"type":"subscribe","users":[\#(users.map { "\"\($0)\"" }.joined(separator: ","))]}"#)
            var view: [String: (online: Bool, version: Int64)] = [:]
            for user in try await watcher.next().snapshotUsers ?? [] {
                view[user.userID] = (user.online, user.version)
            }

            var tabs: [Tab] = []
            var welcomed: [String] = []
            var closedOnSurvivor: [String] = []  // hub 0 lives throughout: these must read client_closed
            var tally = ["close": 0, "kill": 0, "restart": 0, "listen drop": 0]
            for step in 0..<Self.steps {
                let roll = Int.random(in: 0..<100, using: &walk)
                switch roll {
                case 0..<50:
                    let alive = hubs.indices.filter { hubs[$0] != nil }
                    let hub = alive.randomElement(using: &walk)!
                    let user = users.randomElement(using: &walk)!
                    let token = try await authority.mint(Identity(userID: user), lifetime: .seconds(600))
                    // Like a real client, retry an upgrade refused while the hub has no database (503).
                    var socket: TestSocket?
                    try await eventually(timeout: .seconds(30), "step \(step): hub \(hub) to accept a socket") {
                        socket = try? await TestSocket.open(url: hubs[hub]!.webSocketURL, token: token)
                        if socket == nil { tally["refused", default: 0] += 1 }
                        return socket != nil
                    }
                    let welcome = try await socket!.next()
                    let id = try #require(welcome.welcomed?.connectionID.description, "step \(step): \(welcome)")
                    tabs.append(Tab(socket: socket!, hub: hub, id: id))
                    welcomed.append(id)
                case 50..<78 where !tabs.isEmpty:
                    let tab = tabs.remove(at: Int.random(in: 0..<tabs.count, using: &walk))
                    try await tab.socket.close()
                    if tab.hub == 0 { closedOnSurvivor.append(tab.id) }
                    tally["close", default: 0] += 1
                case 78..<88:
                    let hub = Int.random(in: 1..<hubs.count, using: &walk)
                    if let process = hubs[hub] {
                        process.signal(SIGKILL)
                        _ = try await process.waitForExit()
                        hubs[hub] = nil
                        tabs.removeAll { $0.hub == hub }
                        tally["kill", default: 0] += 1
                    } else {
                        hubs[hub] = try await HubProcess.serve(database: database, serverID: "soak-hub-\(hub)", extra: Self.options)
                        tally["restart", default: 0] += 1
                    }
                case 88..<95:
                    try await execute(
                        database,
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'")
                    tally["listen drop", default: 0] += 1
                default:
                    break
                }
                if step == Self.steps / 2 {
                    await cluster.stop()
                    if let tab = tabs.popLast() {  // a close during the outage
                        try await tab.socket.close()
                        if tab.hub == 0 { closedOnSurvivor.append(tab.id) }
                    }
                    try await Task.sleep(for: .seconds(1))
                    try await cluster.start()
                    try await eventually(timeout: .seconds(60), "hubs ready after the database restart") {
                        for process in hubs.compactMap({ $0 }) where try await HTTPProbe.status(port: process.port, path: "/readyz") != 200 {
                            return false
                        }
                        return true
                    }
                }
            }
            // Hubs still dead are left to the purge run by the survivors.
            print(
                "soak seed \(seed): \(welcomed.count) welcomed, \(tally.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")), \(tabs.count) live"
            )
            let live = Set(tabs.map(\.id))
            try await eventually(timeout: .seconds(60), "open rows to match live sockets") {
                let open = try await sql(
                    database, "SELECT connection_id::text FROM rollcall.connections WHERE connected AND user_id <> 'soak-watcher'", as: String.self)
                return Set(open) == live
            }
            let kept = try await sql(
                database, "SELECT count(*)::int FROM rollcall.connections WHERE connection_id::text = ANY(\(welcomed))", as: Int.self)
            #expect(kept == [welcomed.count], "every welcomed connection has its row")
            let closedRight = try await sql(
                database,
                "SELECT count(*)::int FROM rollcall.connections WHERE connection_id::text = ANY(\(closedOnSurvivor)) AND close_reason = 'client_closed'",
                as: Int.self)
            #expect(closedRight == [closedOnSurvivor.count], "every close the surviving hub saw is written as the client's")
            let miscounted = try await usersWithWrongCounters(database, graceMayRun: true)
            #expect(miscounted.isEmpty, "connection counters exact (seed \(seed))")
            try await eventually(timeout: .seconds(30), "every grace finished and online to mean a connection is open") {
                try await sql(
                    database,
                    "SELECT count(*)::int FROM rollcall.users WHERE online <> (connections > 0) OR offline_pending_since IS NOT NULL",
                    as: Int.self) == [0]
            }

            // The watcher's view converges to the database.
            let stored = try await sql(
                database, "SELECT user_id, online, version FROM rollcall.users WHERE user_id LIKE 'soak-%' AND user_id <> 'soak-watcher'",
                as: (String, Bool, Int64).self)
            let expected = Dictionary(uniqueKeysWithValues: stored.map { ($0.0, ($0.1, $0.2)) })
            try await eventually(timeout: .seconds(30), "the watcher's view to equal the database") {
                while let frame = (try? await watcher.nextOrNil(timeout: .milliseconds(200))) ?? nil {
                    if let transition = frame.transition {
                        view[transition.userID] = (transition.online, transition.version)
                    }
                }
                return expected.allSatisfy { user, state in
                    view[user].map { $0.online == state.0 && $0.version == state.1 } ?? (state.1 == 0)
                }
            }

            for tab in tabs { try await tab.socket.close() }
            try await watcher.close()
            for process in hubs.compactMap({ $0 }) {
                process.signal(SIGTERM)
                _ = try await process.waitForExit(timeout: .seconds(60))
            }
        }
    }
}
