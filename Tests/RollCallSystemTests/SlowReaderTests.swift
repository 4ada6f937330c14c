import Foundation
import RollCall
import RollCallTestSupport
import Testing

/// A client that sends nothing and reads nothing, against a hub process whose memory is measured.
@Suite("A socket that does not read", .timeLimit(.minutes(5)))
struct SlowReaderTests {
    @Test("a socket that does not read is closed past its budget: 96 MB sent its way leave the hub's memory where it was")
    func slowReader() async throws {
        try await withTestDatabase { database in
            let hub = try await HubProcess.serve(
                database: database, serverID: "slow-reader", extra: ["--max-outbound-bytes", "1048576", "--ping-interval", "10m"])
            defer { hub.signal(SIGKILL); _ = hub.exitStatus() }
            let authority = try await TestTokens.authority()
            let admin = try await authority.mint(Identity(userID: "ops", isAdmin: true), lifetime: .seconds(600))
            let peer = try await SilentPeer.connect(
                port: hub.port, token: try await authority.mint(Identity(userID: "sloth"), lifetime: .seconds(600)))
            try await eventually("the silent peer's row") {
                try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE user_id = 'sloth' AND connected", as: Int.self) == [1]
            }
            let before = try HTTPProbe.residentBytes(of: hub.pid)
            let body = #"{"data":"\#(String(repeating: "z", count: 64 * 1024 - 16))"}"#
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        for _ in 0..<(1536 / 4) {
                            let sent = try await HTTPProbe.post(port: hub.port, path: "/v1/users/sloth/messages", token: admin, body: body)
                            #expect(sent.status == 202, "worker \(worker): \(sent.body)")
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await eventually("the slow reader's row closed as kicked") {
                try await sql(database, "SELECT coalesce(close_reason, 'open') FROM rollcall.connections WHERE user_id = 'sloth'", as: String.self)
                    == ["kicked"]
            }
            let after = try HTTPProbe.residentBytes(of: hub.pid)
            #expect(after - before < 48 * 1024 * 1024, "resident memory grew from \(before) to \(after) bytes")
            #expect(try await HTTPProbe.metric(port: hub.port, "rollcall_connections_slow_closed_total") == 1)
            await peer.hangUp()
            #expect(try await usersWithWrongCounters(database).isEmpty)
        }
    }
}
