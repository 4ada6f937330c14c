import Foundation
import RollCall
import RollCallTestSupport
import Testing

@Suite("WebSocket protocol", .timeLimit(.minutes(5)))
struct ProtocolTests {
    @Test("the welcome comes after the row is committed and names the row")
    func welcome() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let socket = try await TestSocket.open(url: hub.webSocketURL, token: try await hub.token("erin"))
                let welcome = try await socket.next()
                #expect(welcome.welcomed?.userID == "erin")
                #expect(welcome.welcomed?.serverID == hub.configuration.serverID)
                guard case .welcome(let id, _, _, let heartbeat, _) = welcome else { throw UnexpectedFrame(frame: welcome) }
                #expect(heartbeat > 0)
                let row = try await sql(
                    database, "SELECT user_id, server_id, connected FROM rollcall.connections WHERE connection_id = \(id.uuid)",
                    as: (String, String, Bool).self)
                #expect(row.count == 1 && row[0].0 == "erin" && row[0].1 == hub.configuration.serverID && row[0].2)
                try await socket.close()
            }
        }
    }

    @Test(
        "a bad frame gets bad_request and the socket keeps working",
        arguments: ["{not json", #"{"type":"teleport","id":"t"}"#, #"{"id":"x"}"#, #"{"type":"subscribe"}"#, "[]", "42"])
    func badFrames(frame: String) async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let socket = try await hub.connect("frank")
                try await socket.send(frame)
                let error = try await socket.next()
                #expect(error.type == "error")
                #expect(error.errorCode?.rawValue == "bad_request")
                #expect(!(error.errorMessage ?? "").isEmpty)
                #expect(try await socket.roundTrip())
                try await socket.close()
            }
        }
    }

    @Test(
        "a refused JSON object frame echoes its id and says what was wrong",
        arguments: [
            (#"{"type":42,"id":"b3"}"#, "b3", "\"type\" must be a string"),
            (#"{"id":"n1"}"#, "n1", "no \"type\""),
            (#"{"type":"subscribe","users":[1,2],"id":"w2"}"#, "w2", "\"users\" must be a list of strings"),
            (#"{"type":"send","to":["bob"],"data":{},"id":"s9"}"#, "s9", "\"to\" must be a string"),
        ])
    func errorsEchoTheID(frame: String, id: String, message: String) async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let socket = try await hub.connect("fiona")
                try await socket.send(frame)
                let error = try await socket.next()
                #expect(error.type == "error")
                #expect(error.errorCode?.rawValue == "bad_request")
                #expect(error.requestID == .string(id))
                #expect((error.errorMessage ?? "").contains(message))
                try await socket.close()
            }
        }
    }

    @Test("the watch cap counts distinct users: re-subscribing 1,000 users eleven times is fine, the 10,001st user is not")
    func watchCap() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let socket = try await hub.connect("wendy")
                func subscribe(_ users: [String], id: String) async throws -> ServerFrame {
                    try await socket.send(.subscribe(id: .string(id), target: .users(users)))
                    return try await socket.next()
                }
                let first = (0..<1000).map { "u\($0)" }
                for round in 0..<11 {
                    #expect(try await subscribe(first, id: "again-\(round)").type == "snapshot")
                }
                for block in 1..<10 {
                    let users = (block * 1000..<(block + 1) * 1000).map { "u\($0)" }
                    #expect(try await subscribe(users, id: "block-\(block)").type == "snapshot")
                }
                let refused = try await subscribe(["one-too-many"], id: "over")
                #expect(refused.type == "error" && refused.errorCode?.rawValue == "bad_request" && refused.requestID == .string("over"))
                // Unsubscribing users never watched frees nothing.
                try await socket.send(#"{"type":"unsubscribe","id":"ghosts","users":["nobody-1","nobody-2"]}"#)
                #expect(try await socket.next().type == "ack")
                #expect(try await subscribe(["one-too-many"], id: "still-over").type == "error")
                try await socket.send(#"{"type":"unsubscribe","id":"free","users":["u0"]}"#)
                #expect(try await socket.next().type == "ack")
                #expect(try await subscribe(["one-too-many"], id: "fits").type == "snapshot")
                try await socket.close()
            }
        }
    }

    @Test("a socket is closed with 4001 token_expired when its token expires, and its row closes as kicked")
    func tokenExpiry() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let socket = try await TestSocket.open(url: hub.webSocketURL, token: try await hub.token("ursula", lifetime: .seconds(5)))
                #expect(try await socket.next().type == "welcome")
                #expect(try await socket.waitUntilClosed() == 4001)
                try await eventually("the row closed") {
                    try await sql(
                        database, "SELECT coalesce(close_reason, 'open') FROM rollcall.connections WHERE user_id = 'ursula'", as: String.self) == [
                            "kicked"
                        ]
                }
            }
        }
    }

    @Test("a frame over the limit closes that socket with 1009 as protocol_error; other clients are unaffected")
    func oversized() async throws {
        try await withTestDatabase { database in
            var configuration = TestHub.configuration()
            configuration.maxMessageBytes = 4096
            try await TestHub.run(configuration, database: database) { hub in
                let bystander = try await hub.connect("gina")
                let offender = try await hub.connect("hank")
                try await offender.send(bytes: 10_000)
                #expect(try await offender.waitUntilClosed() == 1009)
                #expect(try await bystander.roundTrip())
                try await eventually("offender's row closed") {
                    try await sql(database, "SELECT close_reason FROM rollcall.connections WHERE user_id = 'hank' AND NOT connected", as: String.self)
                        == ["protocol_error"]
                }
                try await bystander.close()
            }
        }
    }

    @Test("a flood of bad frames is rate limited, then closed with 1008")
    func flood() async throws {
        try await withTestDatabase { database in
            var configuration = TestHub.configuration()
            configuration.maxBadFrames = 5
            try await TestHub.run(configuration, database: database) { hub in
                let socket = try await hub.connect("ivan")
                for _ in 0..<6 { try await socket.send("garbage") }
                var codes: [String] = []
                while let frame = try await socket.nextOrNil() { codes.append(frame.errorCode?.rawValue ?? "") }
                #expect(codes == Array(repeating: "bad_request", count: 5) + ["rate_limited"])
                #expect(try await socket.waitUntilClosed() == 1008)
            }
        }
    }
}
