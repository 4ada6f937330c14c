import Foundation
import RollCall
import RollCallTestSupport
import Testing

@Suite("HTTP API", .timeLimit(.minutes(5)))
struct HTTPAPITests {
    func object(_ body: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] ?? [:]
    }

    @Test("health, readiness and unknown paths answer JSON")
    func health() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                #expect(try await hub.get("/healthz").status == 200)
                #expect(try await hub.get("/readyz").status == 200)
                let missing = try await hub.get("/v1/nothing-here", token: try await hub.token("a"))
                #expect(missing.status == 404)
                #expect(try object(missing.body)["error"] != nil)
            }
        }
    }

    @Test("presence of a user and of several, within what the token may watch")
    func presence() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let socket = try await hub.connect("jill")
                let token = try await hub.token("kim")
                let jill = try object(try await hub.get("/v1/users/jill", token: token).body)
                #expect(jill["online"] as? Bool == true)
                #expect(jill["connections"] as? Int == 1)
                #expect(jill["online_since"] is String)
                let both = try object(try await hub.get("/v1/presence?users=jill,nobody", token: token).body)
                let users = try #require(both["users"] as? [[String: Any]])
                #expect(users.map { $0["user_id"] as? String } == ["jill", "nobody"])
                #expect(users.map { $0["online"] as? Bool } == [true, false])

                let limited = try await hub.token("kim", watch: ["lou"])
                #expect(try await hub.get("/v1/users/jill", token: limited).status == 403)
                #expect(try await hub.get("/v1/presence?users=lou,jill", token: limited).status == 403)
                #expect(try await hub.get("/v1/presence?users=lou", token: limited).status == 200)
                #expect(try await hub.get("/v1/presence", token: token).status == 400)
                try await socket.close()
            }
        }
    }

    @Test("connection rows: self or admin; history with ?all=true")
    func connections() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let first = try await hub.connect("mia")
                try await first.close()
                let second = try await hub.connect("mia")
                let own = try object(try await hub.get("/v1/users/mia/connections", token: try await hub.token("mia")).body)
                #expect((own["connections"] as? [[String: Any]])?.count == 1)
                let history = try object(try await hub.get("/v1/users/mia/connections?all=true", token: try await hub.token("ops", admin: true)).body)
                let rows = try #require(history["connections"] as? [[String: Any]])
                #expect(rows.count == 2)
                #expect(rows.compactMap { $0["close_reason"] as? String } == ["client_closed"])
                #expect(try await hub.get("/v1/users/mia/connections", token: try await hub.token("ned")).status == 403)
                try await second.close()
            }
        }
    }

    @Test("admins page through online users by cursor and see every one exactly once")
    func onlinePaging() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                var sockets: [TestSocket] = []
                for index in 0..<23 { sockets.append(try await hub.connect(String(format: "p%02d", index))) }
                try await sockets[5].close()
                // The row closes once the hub has seen the socket end: a moment after the client.
                try await eventually("p05's row closed") {
                    try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE user_id = 'p05' AND connected", as: Int.self) == [0]
                }
                let admin = try await hub.token("ops", admin: true)
                var seen: [String] = []
                var cursor: String?
                repeat {
                    let query = "/v1/users?online=true&limit=5" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let page = try object(try await hub.get(query, token: admin).body)
                    seen += (page["users"] as? [[String: Any]] ?? []).compactMap { $0["user_id"] as? String }
                    cursor = page["next_cursor"] as? String
                } while cursor != nil
                #expect(seen == (0..<23).filter { $0 != 5 }.map { String(format: "p%02d", $0) })
                #expect(try await hub.get("/v1/users?online=true", token: try await hub.token("p01")).status == 403)
                let servers = try object(try await hub.get("/v1/servers", token: admin).body)
                let list = try #require(servers["servers"] as? [[String: Any]])
                #expect(list.count == 1)
                #expect(list[0]["server_id"] as? String == hub.configuration.serverID)
                #expect(list[0]["open_connections"] as? Int == 22)
                for socket in sockets { try await socket.close() }
            }
        }
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters, as a careful client does.
    static func pathSegment(_ id: String) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return id.addingPercentEncoding(withAllowedCharacters: unreserved)!
    }

    @Test("user ids in paths are percent-decoded on every route", arguments: ["O'Reilly ü/#?", "a b", "日本", "%", "..", "100%25", "O%27Reilly"])
    func oddIDs(id: String) async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let socket = try await hub.connect(id)
                let own = try await hub.token(id)
                let path = "/v1/users/" + Self.pathSegment(id)

                let presence = try object(try await hub.get(path, token: own).body)
                #expect(presence["user_id"] as? String == id)
                #expect(presence["online"] as? Bool == true)

                let connections = try object(try await hub.get(path + "/connections", token: own).body)
                let rows = try #require(connections["connections"] as? [[String: Any]])
                #expect(rows.map { $0["user_id"] as? String } == [id])

                let query = "/v1/presence?users=" + Self.pathSegment(id)
                let listed = try object(try await hub.get(query, token: own).body)
                #expect((listed["users"] as? [[String: Any]])?.map { $0["online"] as? Bool } == [true])

                let sent = try await hub.post(path + "/messages", token: try await hub.token("ops", admin: true), body: #"{"data":{"n":1}}"#)
                #expect(sent.status == 202)
                let message = try await socket.next()
                #expect(message.delivered?.from == "ops")
                try await socket.close()
            }
        }
    }

    @Test(
        "a path id that is not percent-encoded UTF-8, or too long, is a 400 that says so",
        arguments: ["%FF%FE", "%", String(repeating: "x", count: 1025)])
    func badPathIDs(raw: String) async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let answer = try await hub.get("/v1/users/" + raw, token: try await hub.token("ops", admin: true))
                #expect(answer.status == 400)
                let error = try object(answer.body)["error"] as? [String: Any]
                #expect(error?["code"] as? String == "bad_request")
            }
        }
    }
}

extension HTTPAPITests {
    @Test("admins list every open connection and the concurrency of the last day, minute by minute")
    func dashboardData() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let tabs = [
                    try await hub.connect("cara", userAgent: "Firefox"), try await hub.connect("cara", userAgent: "Safari"),
                    try await hub.connect("dov"),
                ]
                try await tabs[2].close()
                try await eventually("dov's row closed") {
                    try await sql(database, "SELECT count(*)::int FROM rollcall.connections WHERE user_id = 'dov' AND connected", as: Int.self) == [0]
                }
                let admin = try await hub.token("ops", admin: true)
                let open = try object(try await hub.get("/v1/connections", token: admin).body)
                let rows = try #require(open["connections"] as? [[String: Any]])
                #expect(rows.compactMap { $0["user_id"] as? String } == ["cara", "cara"])
                #expect(Set(rows.compactMap { $0["user_agent"] as? String }) == ["Firefox", "Safari"])
                let stats = try await hub.get("/v1/stats/concurrency", token: admin)
                #expect(stats.status == 200, "\(stats.body)")
                let minutes = try #require(try object(stats.body)["minutes"] as? [[String: Any]])
                // Connections open at some moment of the minute: dov's counts, though it closed.
                #expect(minutes.last?["connections"] as? Int == 3, "\(minutes)")
                #expect(try await hub.get("/v1/connections", token: try await hub.token("cara")).status == 403)
                #expect(try await hub.get("/v1/stats/concurrency", token: try await hub.token("cara")).status == 403)
                for tab in tabs.prefix(2) { try await tab.close() }
            }
        }
    }
}
