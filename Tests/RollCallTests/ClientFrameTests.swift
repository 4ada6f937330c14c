import RollCall
import Testing

@Suite("Client frames")
struct ClientFrameTests {
    @Test("well-formed frames decode with their ids")
    func wellFormed() throws {
        #expect(try ClientFrame.decode(#"{"type":"ping","id":7}"#) == .ping(id: .number(7)))
        #expect(try ClientFrame.decode(#"{"type":"ping"}"#) == .ping(id: nil))
        #expect(try ClientFrame.decode(#"{"type":"subscribe","id":"s1","users":["bob","ann"]}"#)
            == .subscribe(id: .string("s1"), target: .users(["bob", "ann"])))
        #expect(try ClientFrame.decode(#"{"type":"unsubscribe","all":true}"#) == .unsubscribe(id: nil, target: .all))
        #expect(try ClientFrame.decode(#"{"type":"send","to":"bob","data":{"text":"hé 👋","n":[1,2.5,null]}}"#)
            == .send(id: nil, to: "bob", data: .object(["text": .string("hé 👋"), "n": .array([.number(1), .number(2.5), .null])])))
    }

    @Test(
        "malformed frames are bad requests that say what is wrong",
        arguments: [
            ("not json", nil as RequestID?, "not a JSON object"),
            ("[1,2]", nil, "not a JSON object"),
            (#"{"id":3}"#, RequestID.number(3), "no \"type\""),
            (#"{"type":"dance","id":"d"}"#, RequestID.string("d"), "unknown frame type"),
            (#"{"type":"subscribe","id":1}"#, RequestID.number(1), "needs \"users\""),
            (#"{"type":"subscribe","users":[]}"#, nil, "needs \"users\""),
            (#"{"type":"subscribe","users":[1]}"#, nil, "needs \"users\""),
            (#"{"type":"send","to":"bob"}"#, nil, "needs \"to\""),
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
        #expect(welcome == #"{"connection_id":"6f1c1f4e-39a4-4e8b-9a57-4b1c7e1b2d3f","heartbeat_ms":30000,"server_id":"hub-1","type":"welcome","user_id":"alice"}"#)
        #expect(ServerFrame.error(id: .string("x"), code: .badRequest, message: "no").json()
            == #"{"code":"bad_request","id":"x","message":"no","type":"error"}"#)
        #expect(ServerFrame.pong(id: nil).json() == #"{"type":"pong"}"#)
    }
}
