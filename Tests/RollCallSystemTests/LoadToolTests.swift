import Foundation
import RollCall
import RollCallClient
import RollCallTestSupport
import Testing

/// `rollcall load` as `scripts/bench` runs it, against hubs on a test database.
@Suite("The load tool", .timeLimit(.minutes(5)))
struct LoadToolTests {
    static func summary(_ output: String) throws -> LoadSummary {
        let start = try #require(output.firstIndex(of: "{"))
        let end = try #require(output.lastIndex(of: "}"))
        return try JSONDecoder().decode(LoadSummary.self, from: Data(output[start...end].utf8))
    }

    @Test(
        "opens, watches from another hub, sends across hubs and closes: the summary's counts match the database",
        arguments: [0, 1])
    func counts(messageWindow: Int) async throws {
        try await withTestDatabase { database in
            try await TestHub.three(database, grace: .zero) { a, b, c in
                let run = try await HubProcess.run([
                    "load", "--jwt-secret", TestHub.secret, "--quiet", "--limit", "60s",
                    "--hubs", "ws://127.0.0.1:\(a.port),ws://127.0.0.1:\(b.port)", "--watch-hubs", "ws://127.0.0.1:\(c.port)",
                    "--connections", "40", "--rate", "200", "--watchers", "2", "--message-rate", "30", "--message-duration", "1s",
                    "--message-window", "\(messageWindow)",
                ])
                #expect(run.status == 0, "\(run.output)")
                let summary = try Self.summary(run.output)
                #expect(summary.connections.welcomed == 40)
                #expect(summary.errors.isEmpty, "\(summary)")
                #expect(summary.presenceEvents?.online == 80, "each watcher sees each of the 40 users come online once")
                #expect(summary.propagation?.count == 40)
                let messages = try #require(summary.messages)
                // A sender with a window of one waits for each ack before its next send, and still sends them all.
                #expect(messages.sent == 30 && messages.delivered == 30 && messages.acked == 30)
                #expect(summary.timeToWelcome.count == 40)
                try await eventually("every row the run opened closed") {
                    try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE user_id LIKE 'load-%' AND connected", as: Int.self)
                        == [0]
                }
                // 40 sockets, 2 watchers, 1 sender and 1 receiver: one row each.
                #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE user_id LIKE 'load-%'", as: Int.self) == [44])
            }
        }
    }

    @Test(
        "an address that is not this machine's is refused before anything is sent",
        arguments: ["ws://10.1.2.3:8080", "ws://example.com", "http://127.0.0.1:8080"])
    func loopbackOnly(_ hub: String) async throws {
        let run = try await HubProcess.run(["load", "--jwt-secret", TestHub.secret, "--hubs", hub, "--connections", "1"])
        #expect(run.status != 0)
        #expect(run.output.contains("loopback") || run.output.contains("ws://"), "\(run.output)")
    }
}
