import Foundation
import RollCall
import RollCallHub
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Webhooks through crashes", .timeLimit(.minutes(5)))
struct WebhookCrashTests {
    static let secret = "a-webhook-secret-of-at-least-32-bytes!"

    @Test(
        "kill -9 of the delivering hub mid-POST: the other hub sends what it held once its lease runs out, then the purge's offline; each once by id, in order"
    )
    func deliveringHubKilled() async throws {
        let receiver = WebhookReceiver()
        receiver.hang(next: 1)
        try await receiver.run { url in
            try await withTestDatabase { database in
                // The receiver lives in this busy test process: under a full run it took over a
                // second to answer hub B three times in a row, and each timeout doubles the wait
                // before the next attempt. 5 s is an answer's time, not the lease's (10 s).
                let options = HubProcess.fast + ["--webhook-url", url, "--webhook-secret", Self.secret, "--webhook-timeout", "5s"]
                let authority = try await TestTokens.authority()
                let a = try await HubProcess.serve(database: database, serverID: "hook-a", extra: options)
                defer { a.signal(SIGKILL) }
                _ = try await a.connect("kim", authority: authority)
                // Hub A has leased kim's online and is waiting for the receiver's answer.
                try await eventually(timeout: .seconds(30), "hub A's POST to arrive") { !receiver.received.isEmpty }
                a.signal(SIGKILL)
                _ = try await a.waitForExit()

                let b = try await HubProcess.serve(database: database, serverID: "hook-b", extra: options)
                defer { b.signal(SIGKILL) }
                try await b.explainingFailure {
                    try await eventually(timeout: .seconds(60), "both of kim's webhooks delivered") {
                        let delivered = try await sql(
                            database, "SELECT count(*)::int FROM rollcall.webhook_deliveries WHERE status = 'delivered'", as: Int.self)
                        return delivered == [2]
                    }
                }
                #expect(try receiver.events().map(\.description) == ["user.online kim", "user.offline kim"])
                #expect(receiver.received.count >= 3, "kim's online came twice (at least once): \(receiver.received.map(\.body))")
                b.signal(SIGTERM)
                #expect(try await b.waitForExit(timeout: .seconds(60)) == 0, "\(b.log.suffix(2000))")
            }
        }
    }

    @Test(
        "the database goes away while a POST is answered: the answer cannot be recorded, so the event is sent again after the outage, then the close made meanwhile; each once by id, in order"
    )
    func databaseOutageMidDelivery() async throws {
        let receiver = WebhookReceiver()
        receiver.hang(next: 1)
        try await receiver.run { url in
            try await PrivateCluster.with { cluster in
                let options = HubProcess.fast + ["--webhook-url", url, "--webhook-secret", Self.secret, "--webhook-timeout", "10s"]
                let authority = try await TestTokens.authority()
                let hub = try await HubProcess.serve(database: cluster.database, serverID: "hook-outage", extra: options)
                defer { hub.signal(SIGKILL) }
                let kim = try await hub.connect("kim", authority: authority)
                try await eventually(timeout: .seconds(30), "kim's online to reach the receiver") { !receiver.received.isEmpty }
                await cluster.stop()
                try await kim.close()
                // The receiver answers 200 while the database is down: the hub cannot record it.
                try await hub.waitForLog("webhook outcome not recorded")
                try await cluster.start()
                try await eventually(timeout: .seconds(90), "both of kim's webhooks delivered") {
                    try await sql(
                        cluster.database, "SELECT count(*)::int FROM rollcall.webhook_deliveries WHERE status = 'delivered'", as: Int.self) == [2]
                }
                #expect(try receiver.events().map(\.description) == ["user.online kim", "user.offline kim"])
                #expect(receiver.received.count == 3, "kim's online twice, at least once: \(receiver.received.map(\.body))")
                hub.signal(SIGTERM)
                #expect(try await hub.waitForExit(timeout: .seconds(60)) == 0, "\(hub.log.suffix(2000))")
            }
        }
    }
}

/// The issue's acceptance run: a churn across two hubs, one of them killed and the database
/// restarted in the middle, and a receiver that fails at first.
@Suite("Webhooks through a churn", .timeLimit(.minutes(5)))
struct WebhookChurnTests {
    static let users = (0..<8).map { "churn-\($0)" }

    /// Opens a socket, retrying while the hub refuses (the database is down).
    static func connect(_ user: String, to hub: HubProcess, _ authority: TokenAuthority) async throws -> TestSocket {
        try await eventuallyValue(timeout: .seconds(90), "\(user) welcomed by hub \(hub.port)") { try? await hub.connect(user, authority: authority) }
    }

    /// Each user opens a tab on each hub and closes both, `rounds` times, all users at once.
    static func churn(_ users: [String], on hubs: [HubProcess], rounds: Int, _ authority: TokenAuthority) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, user) in users.enumerated() {
                group.addTask {
                    for round in 0..<rounds {
                        let order = (index + round).isMultiple(of: 2) ? hubs : hubs.reversed()
                        var tabs: [TestSocket] = []
                        for hub in order { tabs.append(try await connect(user, to: hub, authority)) }
                        for tab in round.isMultiple(of: 3) ? tabs : tabs.reversed() { try await tab.close() }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test(
        "a receiver sees every transition of a churn across two hubs once each and in order per user, through kill -9 of a hub, a database restart and its own failures"
    )
    func churnThroughCrashes() async throws {
        let receiver = WebhookReceiver()
        receiver.fail(next: 5)
        try await receiver.run { url in
            try await PrivateCluster.with { cluster in
                let database = cluster.database
                // 5 s for an answer, as in deliveringHubKilled; the hung ones below take 10 s, past it.
                let options = HubProcess.fast + ["--webhook-url", url, "--webhook-secret", WebhookCrashTests.secret, "--webhook-timeout", "5s"]
                let authority = try await TestTokens.authority()
                let a = try await HubProcess.serve(database: database, serverID: "churn-a", extra: options)
                defer { a.signal(SIGKILL) }
                let b = try await HubProcess.serve(database: database, serverID: "churn-b", extra: options)
                defer { b.signal(SIGKILL) }

                try await Self.churn(Self.users, on: [a, b], rounds: 3, authority)
                // Half the users keep a tab on A; two of them also one on B, which keeps them online when A dies.
                var kept: [TestSocket] = []
                for user in Self.users.prefix(4) { _ = try await Self.connect(user, to: a, authority) }
                for user in Self.users[2..<4] { kept.append(try await Self.connect(user, to: b, authority)) }
                receiver.hang(next: 2, for: .seconds(10))

                // A dies while the other half churns on B; the database stops under that churn, and
                // sockets opened before it stopped close while it is down.
                var doomed: [TestSocket] = []
                for user in Self.users.suffix(4) { doomed.append(try await Self.connect(user, to: b, authority)) }
                async let churning: Void = Self.churn(Array(Self.users.suffix(4)), on: [b], rounds: 6, authority)
                a.signal(SIGKILL)
                _ = try await a.waitForExit()
                await cluster.stop()
                for socket in doomed { try await socket.close() }
                try await Task.sleep(for: .seconds(3))
                try await cluster.start()
                try await churning

                let a2 = try await HubProcess.serve(database: database, serverID: "churn-a2", extra: options)
                defer { a2.signal(SIGKILL) }
                try await Self.churn(Self.users, on: [a2, b], rounds: 2, authority)
                for socket in kept { try await socket.close() }

                try await eventually(timeout: .seconds(90), "every user offline and every webhook delivered") {
                    let online = try await sql(database, "SELECT count(*)::int FROM rollcall.users WHERE online", as: Int.self)
                    let undelivered = try await sql(
                        database, "SELECT count(*)::int FROM rollcall.webhook_deliveries WHERE status <> 'delivered'", as: Int.self)
                    return online == [0] && undelivered == [0]
                }
                let versions = Dictionary(
                    uniqueKeysWithValues: try await sql(database, "SELECT user_id, version FROM rollcall.users", as: (String, Int64).self))
                let events = try receiver.events()
                for user in Self.users {
                    // The user's version grows by one per transition: the receiver must hear 1...version, alternating.
                    let heard = events.filter { $0.userID == user }.map { "\($0.version) \($0.type)" }
                    let transitions = (0..<(versions[user] ?? 0)).map { "\($0 + 1) \($0 % 2 == 0 ? "user.online" : "user.offline")" }
                    #expect(heard == transitions, "\(user)")
                }
                // A close and the next open written in one batch are no transition, so rounds may merge.
                #expect(Self.users.allSatisfy { (versions[$0] ?? 0) >= 2 }, "\(versions)")
                #expect(receiver.received.count > events.count, "some events were sent more than once (the failures), and deduplicated by id")
                #expect(
                    try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE close_reason = 'orphaned'", as: Int.self) == [4],
                    "A's kept tabs were purged")
                b.signal(SIGTERM)
                a2.signal(SIGTERM)
                #expect(try await b.waitForExit(timeout: .seconds(60)) == 0, "\(b.log.suffix(2000))")
                #expect(try await a2.waitForExit(timeout: .seconds(60)) == 0, "\(a2.log.suffix(2000))")
            }
        }
    }
}
