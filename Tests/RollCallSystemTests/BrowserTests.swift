import Foundation
import RollCall
import RollCallTestSupport
import Testing

extension InteropTests {
    @Test(
        "clients/js/rollcall.js in headless Chromium: presence and messages with a native client on another hub, a killed socket resumed with a fresh token and no flap"
    )
    func browserClient() async throws {
        let python = try await Interop.python()
        try await withTestDatabase { database in
            let options = ["--offline-grace", "2s"]
            let a = try await HubProcess.serve(database: database, serverID: "js-a", extra: options)
            let b = try await HubProcess.serve(database: database, serverID: "js-b", extra: options)
            defer { a.signal(SIGKILL); b.signal(SIGKILL) }
            let authority = try await TestTokens.authority()
            let watcher = try await b.connect("nat-w", authority: authority)
            try await watcher.send(.subscribe(id: .string("w"), target: .users(["js-1", "nat-2", "marker"])))
            _ = try await watcher.next()

            let tokens = [
                try await authority.mint(Identity(userID: "js-1"), lifetime: .seconds(600)),
                try await authority.mint(Identity(userID: "js-1"), lifetime: .seconds(900)),
            ]
            let stop = FileManager.default.temporaryDirectory.appendingPathComponent("browser-stop-\(UUID().uuidString)")
            let tokensJSON = String(decoding: try JSONSerialization.data(withJSONObject: tokens), as: UTF8.self)
            let page = try HubProcess.program(
                python,
                [
                    Interop.scripts.appendingPathComponent("browser_client.py").path,
                    "http://127.0.0.1:\(a.port)", a.webSocketURL, tokensJSON, "nat-2", stop.path,
                ],
                name: "chromium")
            defer { page.signal(SIGKILL) }

            _ = try await page.step("welcome")
            #expect(try await watcher.next().transition.map { [$0.userID: $0.online] } == ["js-1": true])
            let subscribed = try await page.step("subscribed")
            #expect(subscribed.contains(#""online": false"#) && subscribed.contains(#""user_id": "nat-2""#), "\(subscribed)")

            let native = try await b.connect("nat-2", authority: authority)
            _ = try await watcher.next()  // nat-2 online
            _ = try await page.step("peer online")
            _ = try await page.step("sent")
            #expect(try await native.next().delivered.map { [$0.from: $0.data] } == ["js-1": .object(["text": .string("from the browser")])])
            try await native.send(.send(id: .string("n"), to: "js-1", data: .object(["text": .string("from native")])))
            #expect(try await native.next().accepted == true)
            let received = try await page.step("received")
            #expect(received.contains(#""from native""#), "\(received)")

            // Rooms: the page joins doc-1 on A, the native client on B; each hears the other.
            let joined = try await page.step("joined")
            #expect(joined.hasSuffix(#"["js-1"]"#), "\(joined)")
            try await native.send(.join(id: .string("j"), room: "doc-1", state: .object(["status": .string("idle")])))
            #expect(try await native.next().roomSnapshot?.members.map(\.userID) == ["js-1", "nat-2"])
            let peerJoined = try await page.step("peer joined")
            #expect(peerJoined.hasSuffix(#"{"status": "idle"}"#), "\(peerJoined)")
            _ = try await page.step("state set")
            let updated = try await native.next().roomEvent
            #expect(updated.map { "\($0.event) \($0.userID) \($0.state.json)" } == #"updated js-1 {"status":"typing"}"#)

            // The page's socket was killed: it came back resumed, with the second token, and joined
            // doc-1 again as its new connection, with its last state; its old connection left.
            let resumed = try await page.step("resumed")
            #expect(resumed.hasPrefix("step resumed true tokens 2"), "\(resumed)")
            #expect(try await page.step("rejoined").hasSuffix("rejoined 1"))
            let rejoin = [try await native.next().roomEvent, try await native.next().roomEvent].compactMap { $0 }
            #expect(
                Set(rejoin.map { "\($0.event) \($0.userID) \($0.reason?.rawValue ?? "-") \($0.state.json)" }) == [
                    #"left js-1 closed {"status":"typing"}"#, #"joined js-1 - {"status":"typing"}"#,
                ])
            let marker = try await b.connect("marker", authority: authority)
            let meanwhile = try await watcher.frames(until: { $0.isPresence(of: "marker") })
            #expect(meanwhile.transitions.map(\.userID) == ["marker"], "js-1 flapped: \(meanwhile)")

            // nat-2 leaves: the page's presence map follows.
            try await native.close()
            _ = try await watcher.frames(until: { $0.isPresence(of: "nat-2") })
            _ = FileManager.default.createFile(atPath: stop.path, contents: nil)
            _ = try await page.step("done")
            #expect(try await page.waitForExit(timeout: .seconds(30)) == 0, "\(page.log)")
            for socket in [marker, watcher] { try await socket.close() }
        }
    }
}

extension InteropTests {
    @Test("the dashboard at / in headless Chromium lists a user who connects on another hub, with the live feed, and drops them when they leave")
    func dashboard() async throws {
        let python = try await Interop.python()
        let receiver = WebhookReceiver()
        try await receiver.run { url in
            try await withTestDatabase { database in
                let options = ["--offline-grace", "0s", "--webhook-url", url, "--webhook-secret", WebhookCrashTests.secret]
                let a = try await HubProcess.serve(database: database, serverID: "dash-a", extra: options)
                let b = try await HubProcess.serve(database: database, serverID: "dash-b", extra: options)
                defer { a.signal(SIGKILL); b.signal(SIGKILL) }
                let authority = try await TestTokens.authority()
                let admin = try await authority.mint(Identity(userID: "ops", isAdmin: true), lifetime: .seconds(600))
                let go = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-\(UUID().uuidString)")
                let screenshot = HubProcess.packageRoot.appendingPathComponent(".build/dashboard.png")
                let page = try HubProcess.program(
                    python,
                    [
                        Interop.scripts.appendingPathComponent("dashboard.py").path, "http://127.0.0.1:\(a.port)", admin, "dana", screenshot.path,
                        go.path,
                    ],
                    name: "dashboard")
                defer { page.signal(SIGKILL) }
                _ = try await page.step("live")
                let tabs = [
                    try await TestSocket.open(
                        url: b.webSocketURL, token: try await authority.mint(Identity(userID: "dana"), lifetime: .seconds(600)),
                        userAgent: "Firefox/140"),
                    try await TestSocket.open(
                        url: b.webSocketURL, token: try await authority.mint(Identity(userID: "dana"), lifetime: .seconds(600)),
                        userAgent: "Chrome/150"),
                ]
                _ = FileManager.default.createFile(atPath: go.path + ".open", contents: nil)
                let shown = try await page.step("shown")
                print("dashboard: \(shown)")
                _ = try await page.step("feed")
                try await tabs[0].send(.join(id: .string("j"), room: "doc-7", state: .object(["status": .string("editing")])))
                let joined = try await tabs[0].frames(until: { $0.roomSnapshot != nil })
                #expect(joined.last?.roomSnapshot?.version == 1)
                _ = FileManager.default.createFile(atPath: go.path + ".room", contents: nil)
                let room = try await page.step("room")
                #expect(room.hasPrefix("step room doc-7 1 1 dana"), "\(room)")
                #expect(room.contains("editing"), "\(room)")
                for tab in tabs { try await tab.close() }
                _ = FileManager.default.createFile(atPath: go.path + ".close", contents: nil)
                _ = try await page.step("removed")
                let webhooks = try await page.step("webhooks")
                // dana and the admin's dashboard socket: two onlines, a join, a leave, dana's offline.
                #expect(webhooks == "step webhooks 0 pending · 5 of 5 delivered in the last hour · 0 failed in the last day", "\(webhooks)")
                #expect(try await page.waitForExit(timeout: .seconds(30)) == 0, "\(page.log)")
            }
        }
    }
}
