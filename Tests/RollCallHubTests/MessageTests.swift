import Foundation
import RollCall
import RollCallTestSupport
import Testing

@Suite("Messages to every tab", .timeLimit(.minutes(2)))
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
