import Foundation
import RollCall
import RollCallTestSupport
import Testing

@Suite("Shutdown and dead peers")
struct ShutdownTests {
    @Test("SIGTERM closes every socket with 1001, every row as server_shutdown, and marks the hub stopped")
    func sigterm() async throws {
        try await withTestDatabase { database in
            let hub = try await HubProcess.serve(database: database, serverID: "proc-term")
            let authority = try await TestTokens.authority()
            var sockets: [TestSocket] = []
            for user in ["olga", "olga", "pete"] {
                let socket = try await TestSocket.open(url: hub.webSocketURL, token: try await authority.mint(Identity(userID: user), lifetime: .seconds(600)))
                #expect(try await socket.next().type == "welcome")
                sockets.append(socket)
            }
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE connected", as: Int.self) == [3])

            hub.signal(SIGTERM)
            for socket in sockets {
                let code = try await socket.waitUntilClosed()
                #expect(code == 1001, "close code \(String(describing: code))")
            }
            #expect(try await hub.waitForExit() == 0, "hub log: \(hub.log)")

            let rows = try await sql(database, "SELECT connected, close_reason FROM rollcall.connections", as: (Bool, String?).self)
            #expect(rows.count == 3)
            #expect(rows.allSatisfy { !$0.0 && $0.1 == "server_shutdown" })
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.users WHERE online OR connections <> 0", as: Int.self) == [0])
            #expect(try await sql(database, "SELECT stopped_at IS NOT NULL FROM rollcall.servers WHERE server_id = 'proc-term'", as: Bool.self) == [true])
        }
    }

    @Test("a peer that stops answering pings is dropped and its row closed as timeout")
    func deadPeer() async throws {
        try await withTestDatabase { database in
            var configuration = TestHub.configuration()
            configuration.pingInterval = .milliseconds(300)
            try await TestHub.run(configuration, database: database) { hub in
                let peer = try await SilentPeer.connect(port: hub.port, token: try await hub.token("quinn"))
                try await eventually("quinn's row opened") {
                    try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE user_id = 'quinn'", as: Int.self) == [1]
                }
                try await eventually("quinn dropped") {
                    try await sql(database, "SELECT close_reason FROM rollcall.connections WHERE user_id = 'quinn' AND NOT connected", as: String.self)
                        == ["timeout"]
                }
                #expect(try await sql(database, "SELECT online FROM rollcall.users WHERE user_id = 'quinn'", as: Bool.self) == [false])
                await peer.hangUp()
            }
        }
    }
}
