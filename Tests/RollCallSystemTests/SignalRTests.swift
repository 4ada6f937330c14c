import Foundation
import RollCall
import RollCallTestSupport
import Testing

/// SignalR clients on `/hubs/presence`.
@Suite("SignalR clients", .serialized, .timeLimit(.minutes(5)))
struct SignalRTests {
    @Test("negotiate answers versions 0 and 1 with WebSockets as the one transport, and needs a token")
    func negotiate() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let token = try await hub.token("sig")
                let v1 = try await hub.post("/hubs/presence/negotiate?negotiateVersion=1", token: token, body: "")
                #expect(v1.status == 200)
                let one = try #require(try JSONSerialization.jsonObject(with: Data(v1.body.utf8)) as? [String: Any])
                #expect(one["negotiateVersion"] as? Int == 1)
                #expect(UUID(uuidString: one["connectionId"] as? String ?? "") != nil)
                #expect(one["connectionToken"] as? String != nil)
                let transports = try #require(one["availableTransports"] as? [[String: Any]])
                #expect(transports.map { $0["transport"] as? String } == ["WebSockets"])
                #expect(transports.first?["transferFormats"] as? [String] == ["Text"])
                let v0 =
                    try JSONSerialization.jsonObject(with: Data(try await hub.post("/hubs/presence/negotiate", token: token, body: "").body.utf8))
                    as? [String: Any]
                #expect(v0?["negotiateVersion"] as? Int == 0 && v0?["connectionToken"] == nil)
                #expect(try await hub.post("/hubs/presence/negotiate", token: nil, body: "").status == 401)
                // Browsers' SignalR clients send the token in the query, for negotiate and socket alike.
                #expect(try await hub.post("/hubs/presence/negotiate?negotiateVersion=1&access_token=\(token)", token: nil, body: "").status == 200)
                let upgrade = try await hub.get("/hubs/presence?id=\(UUID().uuidString)&access_token=\(token)", headers: TestHub.upgradeHeaders)
                #expect(upgrade.status == 101)
                #expect(try await hub.get("/hubs/presence?access_token=nope", headers: TestHub.upgradeHeaders).status == 401)
            }
        }
    }
}

/// Clients nobody here wrote, from PyPI, in one Python environment under .build (made on first
/// use from Tests/Interop/requirements.txt); one test at a time, so it is made once.
@Suite("Clients written by others", .serialized, .timeLimit(.minutes(5)))
struct InteropTests {
    @Test(
        "PyPI's signalrcore and a native client on two hubs: presence and messages both ways, no flap on reconnect, a killed hub's SignalR user purged"
    )
    func signalrcore() async throws {
        let python = try await Interop.python()
        try await withTestDatabase { database in
            let options = ["--orphan-window", "2s", "--heartbeat-interval", "300ms", "--purge-interval", "300ms", "--offline-grace", "2s"]
            let a = try await HubProcess.serve(database: database, serverID: "sig-a", extra: options)
            let b = try await HubProcess.serve(database: database, serverID: "sig-b", extra: options)
            defer { a.signal(SIGKILL); b.signal(SIGKILL) }
            let authority = try await TestTokens.authority()
            let watcher = try await b.connect("nat-w", authority: authority)
            try await watcher.send(.subscribe(id: .string("w"), target: .users(["sig-1", "marker"])))
            #expect(try await watcher.next().snapshotUsers?.count == 2)

            let stop = FileManager.default.temporaryDirectory.appendingPathComponent("signalr-stop-\(UUID().uuidString)")
            let token = try await authority.mint(Identity(userID: "sig-1"), lifetime: .seconds(600))
            let client = try HubProcess.program(
                python,
                [
                    Interop.scripts.appendingPathComponent("signalr_presence.py").path, "http://127.0.0.1:\(a.port)/hubs/presence", token, "nat-1",
                    stop.path,
                ],
                name: "signalrcore")
            defer { client.signal(SIGKILL) }

            // Subscribed: its snapshot says nat-1 is offline; the native watcher on B saw sig-1 come online.
            let subscribed = try await client.step("subscribed")
            #expect(subscribed.contains(#""online": false"#) && subscribed.contains(#""userId": "nat-1""#), "\(subscribed)")
            #expect(try await watcher.next().transition.map { [$0.userID: $0.online] } == ["sig-1": true])
            let rows = try await sql(
                database, "SELECT server_id, connected, user_agent IS NOT NULL FROM rollcall.connections WHERE user_id = 'sig-1'",
                as: (String, Bool, Bool).self)
            #expect(rows.count == 1 && rows[0].0 == "sig-a" && rows[0].1, "a SignalR connection is a row like any other")
            _ = try await client.step("refusals answered")

            // A native user on the other hub reaches the SignalR client as UserStatusChanged.
            let native = try await b.connect("nat-1", authority: authority)
            let online = try await client.step("peer online")
            #expect(online.contains(#"["nat-1", true, 1, 1]"#), "\(online)")

            // Messages both ways.
            _ = try await client.step("sent")
            #expect(try await native.next().delivered.map { [$0.from: $0.data] } == ["sig-1": .object(["text": .string("from signalr")])])
            try await native.send(.send(id: .string("n"), to: "sig-1", data: .object(["text": .string("from native")])))
            #expect(try await native.next().accepted == true)
            let received = try await client.step("received")
            #expect(received.contains(#""from native""#), "\(received)")

            // A reconnect within the grace: the watcher sees nothing of sig-1 before the marker.
            _ = try await client.step("reconnected")
            let marker = try await b.connect("marker", authority: authority)
            let meanwhile = try await watcher.frames(until: { $0.isPresence(of: "marker") })
            #expect(meanwhile.transitions.map(\.userID) == ["marker"], "sig-1 flapped: \(meanwhile)")

            // Rooms: the SignalR client joins doc-1 on A, the native one on B; each hears the other.
            let joined = try await client.step("joined")
            #expect(joined.contains(#""version": 1"#) && joined.contains(#""user_id": "sig-1""#), "\(joined)")
            try await native.send(.join(id: .string("j"), room: "doc-1", state: .object(["status": .string("reading")])))
            let room = try await native.next().roomSnapshot
            #expect(room?.version == 2 && room?.members.map(\.userID) == ["nat-1", "sig-1"], "grouped by user, users by id")
            let peerJoined = try await client.step("peer joined")
            #expect(peerJoined.contains(#""joined""#) && peerJoined.contains(#""reading""#) && peerJoined.contains("2]"), "\(peerJoined)")
            _ = try await client.step("state set")
            let updated = try await native.next().roomEvent
            #expect(updated.map { "\($0.event) \($0.userID) \($0.version)" } == "updated sig-1 3")
            #expect(updated?.state == .object(["status": .string("typing")]))

            // Hub A dies with sig-1's second connection on it: hub B's purge takes sig-1 offline,
            // and out of doc-1 (`orphaned`), once.
            a.signal(SIGKILL)
            let offline = try await watcher.frames(until: { $0.isPresence(of: "sig-1") }, timeout: .seconds(30))
            #expect(offline.last?.transition?.online == false)
            let departed = try await native.frames(until: { $0.roomEvent?.event == .left }, timeout: .seconds(30))
            #expect(
                departed.compactMap(\.roomEvent).map { "\($0.event) \($0.userID) \($0.version) \($0.reason?.rawValue ?? "-")" } == [
                    "left sig-1 4 orphaned"
                ])
            try await native.send(.ping(id: .string("after")))
            let after = try await native.frames(until: { $0.requestID == .string("after") })
            #expect(after.compactMap(\.roomEvent).isEmpty, "one left event, not two: \(after)")
            let reasons = try await sql(
                database, "SELECT close_reason FROM rollcall.connections WHERE user_id = 'sig-1' ORDER BY created_at", as: String?.self)
            // signalrcore's stop() closes its TCP socket without a WebSocket close frame: the hub
            // reads that as a dropped connection (`timeout`), as it would a lost network.
            #expect(reasons == ["timeout", "orphaned"], "\(reasons)")

            _ = FileManager.default.createFile(atPath: stop.path, contents: nil)
            for socket in [native, marker, watcher] { try await socket.close() }
        }
    }

    @Test("schemathesis against a running hub: no 5xx and no response outside openapi.yaml")
    func schemathesis() async throws {
        let python = try await Interop.python()
        let cli = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("schemathesis").path
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                // Someone to find, and an admin token so that admin routes are exercised too.
                let online = try await hub.connect("sam")
                let admin = try await hub.token("ops", admin: true)
                // schemathesis keeps caches in its working directory: give it one under .build.
                let workDirectory = HubProcess.packageRoot.appendingPathComponent(".build/schemathesis").path
                let run = try HubProcess.program(
                    "/bin/sh",
                    [
                        "-c", "mkdir -p \"$0\" && cd \"$0\" && exec \"$@\"", workDirectory, cli,
                        "run", "http://127.0.0.1:\(hub.port)/openapi.yaml",
                        "--header", "Authorization: Bearer \(admin)",
                        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                        "--max-examples", "25", "--seed", "20261124", "--workers", "1",
                        "--exclude-path", "/v1/ws", "--exclude-path", "/hubs/presence",
                    ], name: "schemathesis")
                let status = try await run.waitForExit(timeout: .seconds(300))
                #expect(status == 0, "schemathesis found problems:\n\(run.log.suffix(6000))")
                try await online.close()
            }
        }
    }
}
