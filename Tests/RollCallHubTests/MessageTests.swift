import Foundation
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Messages to every tab", .timeLimit(.minutes(5)))
struct MessageTests {
    static let payloads: [(String, String)] = [
        ("unicode", #"{"text":"héllo 👋 漢字 \"quoted\""}"#),
        ("nested", #"{"a":{"b":[1,2,{"c":null,"d":true}]},"n":-3.5}"#),
        ("20 KB, through the table", #"{"blob":""# + String(repeating: "0123456789", count: 2000) + #""}"#),
    ]

    @Test("a message from alice on A reaches both of bob's tabs, on B and C", arguments: payloads)
    func acrossHubs(name: String, data: String) async throws {
        try await withTestDatabase { database in
            try await TestHub.three(database, grace: .zero) { a, b, c in
                let tabs = [try await b.connect("bob"), try await c.connect("bob")]
                let alice = try await a.connect("alice")
                try await alice.send(#"{"type":"send","id":"m1","to":"bob","data":\#(data)}"#)
                let ack = try await alice.next()
                #expect(ack.type == "ack" && ack.requestID == .string("m1") && ack.accepted == true)
                let expected = try JSONDecoder().decode(JSONValue.self, from: Data(data.utf8))
                for tab in tabs {
                    let message = try await tab.next()
                    #expect(message.delivered?.from == "alice")
                    #expect(message.delivered?.data == expected, "\(name)")
                }
                for socket in tabs + [alice] { try await socket.close() }
            }
            // Payloads that went through the table are cleaned up later, not lost now.
            let stored = try await sql(database, "SELECT count(*)::int FROM rollcall.message_payloads", as: Int.self)
            #expect(stored == [data.utf8.count > MessageNotification.inlineLimit ? 1 : 0])
        }
    }

    @Test("an admin posts over HTTP; 202, and the tab gets it")
    func overHTTP() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let tab = try await hub.connect("cleo")
                let admin = try await hub.token("ops", admin: true)
                let posted = try await hub.post("/v1/users/cleo/messages", token: admin, body: #"{"data":{"kind":"kick-off"}}"#)
                #expect(posted.status == 202)
                let message = try await tab.next()
                #expect(message.delivered?.from == "ops")
                #expect(message.delivered?.data == .object(["kind": .string("kick-off")]))
                #expect(try await hub.post("/v1/users/cleo/messages", token: try await hub.token("cleo"), body: #"{"data":1}"#).status == 403)
                #expect(try await hub.post("/v1/users/cleo/messages", token: admin, body: "nope").status == 400)
                try await tab.close()
            }
        }
    }

    @Test("while the writer is backlogged a sender's socket is not read (HTTP gets 429); then every message is acked and delivered once")
    func backloggedWriter() async throws {
        try await withTestDatabase { database in
            var configuration = TestHub.configuration()
            configuration.maxBatch = 2  // backlogged at 8 waiting
            // The writer waits for carl's row lock for half of this (30 s), not the default 5 s: a
            // machine stalled by other work gets the time to make the test's requests meanwhile.
            configuration.writeDeadline = .seconds(60)
            try await TestHub.run(configuration, database: database) { hub in
                let tab = try await hub.connect("bob")
                let alice = try await hub.connect("alice")
                let carl = try await hub.connect("carl")
                /// The held and pending counts, from one reading of the metrics.
                func heldAndPending() async throws -> (held: Int?, pending: Int?) {
                    let lines = try await hub.get("/metrics").body.split(separator: "\n")
                    func value(_ name: String) -> Int? {
                        lines.first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }.map(Int.init)
                    }
                    return (value("rollcall_messages_held_total"), value("rollcall_registry_pending"))
                }
                // Carl's row locked elsewhere: the writer's next transaction, carl's second tab, waits on it.
                // Past the lock wait's limit the batch would fail as if the database were gone (and
                // carl's second tab be closed with 1013): what the test does while it holds the lock
                // is kept to the few requests it must make.
                let admin = try await hub.token("ops", admin: true)
                // One connection watches for the wait, so that each look does not open one.
                let busy = try await DatabaseAdmin.withConnection(to: database, logger: testLogger) { watcher in
                    try await DatabaseAdmin.withConnection(to: database, logger: testLogger) { session in
                        try await session.query("BEGIN", logger: testLogger)
                        try await session.query("SELECT 1 FROM rollcall.users WHERE user_id = 'carl' FOR UPDATE", logger: testLogger)
                        let secondTab = Task { try await hub.connect("carl") }
                        try await eventually("the writer waits on carl's row") {
                            let waiting = try await watcher.query(
                                "SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
                                logger: testLogger
                            ).collect().first?.decode(Int.self)
                            return waiting == 1
                        }
                        let sent = ContinuousClock.now
                        try await alice.send(batch: (0..<20).map { #"{"type":"send","id":\#($0),"to":"bob","data":\#($0)}"# })
                        try await eventually("alice's socket held") { try await heldAndPending().held ?? 0 >= 1 }
                        let busy = try await hub.post("/v1/users/bob/messages", token: admin, body: #"{"data":"x"}"#)
                        // The 9th send waits unread. A held sender is let go after 5 s to see whether
                        // its socket closed, and its frame is queued; the next one is held again.
                        let (held, pending) = try await heldAndPending()
                        let mostHolds = 1 + Int((ContinuousClock.now - sent) / .seconds(5))
                        #expect((1...mostHolds).contains(held ?? 0), "\(held ?? 0) holds: a held sender was let go early")
                        let queued = (pending ?? 0) - (held ?? 0)
                        #expect(queued == 7 || queued == 8, "\(pending ?? 0) pending after \(held ?? 0) holds: more was queued than was let go")
                        try await session.query("COMMIT", logger: testLogger)
                        try await secondTab.value.close()
                        return busy
                    }
                }
                #expect(busy.status == 429 && busy.body.contains(#""code":"rate_limited""#), "\(busy)")
                // Once the database answers, each message is acked and delivered, once, in order.
                var acked: [RequestID?] = []
                var delivered: [Int?] = []
                for _ in 0..<20 {
                    let ack = try await alice.next()
                    acked.append(ack.accepted == true ? ack.requestID : nil)
                    if case .number(let number)? = try await tab.next().delivered?.data { delivered.append(number.integer.map { Int($0) }) }
                }
                #expect(acked == (0..<20).map { .number(Int64($0)) })
                #expect(delivered == Array(0..<20))
                #expect(try await tab.roundTrip())
                #expect(try await alice.roundTrip())
                for socket in [tab, alice, carl] { try await socket.close() }
            }
        }
    }

    @Test("messages above --max-message-bytes are refused as too_large, over HTTP and over the socket")
    func tooLarge() async throws {
        try await withTestDatabase { database in
            var configuration = TestHub.configuration()
            configuration.maxMessageBytes = 1000
            try await TestHub.run(configuration, database: database) { hub in
                let big = #"{"data":""# + String(repeating: "x", count: 2000) + #""}"#
                let posted = try await hub.post("/v1/users/dan/messages", token: try await hub.token("ops", admin: true), body: big)
                #expect(posted.status == 413)
                #expect(posted.body.contains(#""code":"too_large""#))
                let sender = try await hub.connect("eli")
                try await sender.send(#"{"type":"send","id":"big","to":"dan","data":"\#(String(repeating: "y", count: 2000))"}"#)
                let refused = try await sender.next()
                #expect(refused.errorCode?.rawValue == "too_large" && refused.requestID == .string("big"))
                #expect(try await sender.roundTrip())
                try await sender.close()
            }
        }
    }

    @Test("a sender that floods is rate limited, then disconnected with 1008")
    func rateLimited() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let flooder = try await hub.connect("fay")
                // All at once: sent one by one from a busy test process, 400 frames can trickle
                // in under the 50/s budget and never be a flood.
                try? await flooder.send(batch: (0..<400).map { #"{"type":"send","id":\#($0),"to":"gus","data":1}"# })
                var codes: [String] = []
                while let frame = try await flooder.nextOrNil() {
                    if let code = frame.errorCode?.rawValue { codes.append(code) }
                }
                #expect(codes.contains("rate_limited"))
                #expect(try await flooder.waitUntilClosed() == 1008)
                try await eventually("fay's row closed") {
                    try await sql(database, "SELECT coalesce(close_reason, '') FROM rollcall.connections WHERE user_id = 'fay'", as: String.self) == [
                        "protocol_error"
                    ]
                }
            }
        }
    }

    @Test("a token with a watch claim may message only those users; one without may message anyone")
    func sendPolicy() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let limited = try await TestSocket.open(url: hub.webSocketURL, token: try await hub.token("lena", watch: ["max"]))
                _ = try await limited.next()
                try await limited.send(#"{"type":"send","id":"a","to":"max","data":1}"#)
                try await limited.send(#"{"type":"send","id":"b","to":"stranger","data":1}"#)
                var answers: [RequestID: ServerFrame] = [:]
                while answers.count < 2 {
                    let frame = try await limited.next()
                    if let id = frame.requestID { answers[id] = frame }
                }
                #expect(answers[.string("a")]?.type == "ack")
                #expect(answers[.string("b")]?.errorCode?.rawValue == "forbidden")

                let open = try await hub.connect("olga")
                try await open.send(#"{"type":"send","id":"c","to":"stranger","data":1}"#)
                let answer = try await open.frames { $0.requestID == .string("c") }
                #expect(answer.last?.type == "ack")
                for socket in [limited, open] { try await socket.close() }
            }
        }
    }
}
