import RollCall
import Testing

@Suite("Client frames", .timeLimit(.minutes(5)))
struct ClientFrameTests {
    @Test("well-formed frames decode with their ids")
    func wellFormed() throws {
        #expect(try ClientFrame.decode(#"{"type":"ping","id":7}"#) == .ping(id: .number(7)))
        #expect(try ClientFrame.decode(#"{"type":"ping"}"#) == .ping(id: nil))
        #expect(
            try ClientFrame.decode(#"{"type":"subscribe","id":"s1","users":["bob","ann"]}"#)
                == .subscribe(id: .string("s1"), target: .users(["bob", "ann"])))
        #expect(try ClientFrame.decode(#"{"type":"unsubscribe","all":true}"#) == .unsubscribe(id: nil, target: .all))
        #expect(
            try ClientFrame.decode(#"{"type":"send","to":"bob","data":{"text":"hé 👋","n":[1,2.5,null]}}"#)
                == .send(id: nil, to: "bob", data: .object(["text": .string("hé 👋"), "n": .array([.number(1), .number(2.5), .null])])))
        // Ids past what a Double holds exactly are echoed exactly.
        #expect(try ClientFrame.decode(#"{"type":"ping","id":9007199254740993}"#) == .ping(id: .number(9_007_199_254_740_993)))
        #expect(try ClientFrame.decode(#"{"type":"ping","id":-9223372036854775808}"#) == .ping(id: .number(.min)))
    }

    @Test(
        "malformed frames are bad requests that say what is wrong",
        arguments: [
            ("not json", nil as RequestID?, "not valid JSON"),
            ("[1,2]", nil, "JSON an array, not an object"),
            ("42", nil, "JSON a number, not an object"),
            (#"{"id":3}"#, RequestID.number(3), "no \"type\""),
            (#"{"type":42,"id":"b3"}"#, RequestID.string("b3"), "\"type\" must be a string such as \"ping\", not a number"),
            (#"{"type":null,"id":4}"#, RequestID.number(4), "\"type\" must be a string"),
            (#"{"type":["ping"],"id":"t"}"#, RequestID.string("t"), "not an array"),
            (#"{"type":"ping","id":{"a":1}}"#, nil, "\"id\" must be a string or a whole number, not an object"),
            (#"{"type":"ping","id":1.5}"#, nil, "\"id\" must be a string or a whole number"),
            (#"{"type":"dance","id":"d"}"#, RequestID.string("d"), "unknown frame type \"dance\""),
            (#"{"type":"subscribe","id":1}"#, RequestID.number(1), "needs \"users\""),
            (#"{"type":"subscribe","users":[],"id":2}"#, RequestID.number(2), "this list is empty"),
            (#"{"type":"subscribe","users":[1],"id":"u"}"#, RequestID.string("u"), "\"users\" must be a list of strings; it holds a number"),
            (#"{"type":"subscribe","users":"bob","id":"v"}"#, RequestID.string("v"), "\"users\" must be a list of strings, not a string"),
            (#"{"type":"unsubscribe","all":"yes","id":5}"#, RequestID.number(5), "\"all\" must be true or false"),
            (#"{"type":"send","to":"","data":1,"id":"e"}"#, RequestID.string("e"), "\"to\" must be a user id of 1 to 1024 bytes"),
            (#"{"type":"send","to":"\#(String(repeating: "é", count: 513))","data":1,"id":"l"}"#, RequestID.string("l"), "1 to 1024 bytes"),
            (#"{"type":"subscribe","users":["ok",""],"id":"z"}"#, RequestID.string("z"), "each of \"users\" must be a user id"),
            (#"{"type":"send","to":"bob","id":6}"#, RequestID.number(6), "needs \"to\""),
            (#"{"type":"send","to":7,"data":1,"id":"s"}"#, RequestID.string("s"), "\"to\" must be a string (a user id), not a number"),
        ])
    func malformed(text: String, id: RequestID?, message: String) {
        #expect {
            try ClientFrame.decode(text)
        } throws: { error in
            guard let error = error as? ClientFrameError else { return false }
            return error.id == id && error.message.contains(message)
        }
    }

    @Test("server frames are one JSON object with the documented keys")
    func serverFrames() {
        let id = ConnectionID("6f1c1f4e-39a4-4e8b-9a57-4b1c7e1b2d3f")!
        let welcome = ServerFrame.welcome(connectionID: id, userID: "alice", serverID: "hub-1", heartbeatMilliseconds: 30000, resumed: false).json()
        #expect(
            welcome
                == #"{"connection_id":"6f1c1f4e-39a4-4e8b-9a57-4b1c7e1b2d3f","heartbeat_ms":30000,"server_id":"hub-1","type":"welcome","user_id":"alice"}"#
        )
        #expect(
            ServerFrame.error(id: .string("x"), code: .badRequest, message: "no").json()
                == #"{"code":"bad_request","id":"x","message":"no","type":"error"}"#)
        #expect(ServerFrame.pong(id: nil).json() == #"{"type":"pong"}"#)
    }
}

@Suite("User ids", .timeLimit(.minutes(5)))
struct UserIDTests {
    @Test(
        "any characters but NUL, 1 to 1024 bytes",
        arguments: [
            ("ann", true), ("O'Reilly ü/#?", true), ("日本", true), ("", false), ("nul\u{0}byte", false),
            (String(repeating: "é", count: 512), true), (String(repeating: "é", count: 513), false),
        ])
    func valid(_ user: String, _ expected: Bool) {
        #expect(Identity.isValidUserID(user) == expected)
    }
}
