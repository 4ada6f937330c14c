import Foundation
import RollCall
import Testing

@Suite("SignalR JSON hub protocol", .timeLimit(.minutes(5)))
struct SignalRProtocolTests {
    static let rs = "\u{1e}"

    @Test("the handshake comes first; json versions 0 to 2 are accepted, anything else answered with an error")
    func handshake() {
        var handshaken = false
        #expect(SignalR.read(#"{"protocol":"json","version":1}"# + Self.rs, handshaken: &handshaken) == [.handshake(error: nil)])
        #expect(handshaken)
        for refused in [#"{"protocol":"messagepack","version":1}"#, #"{"protocol":"json","version":3}"#, "nope"] {
            var fresh = false
            let answer = SignalR.read(refused + Self.rs, handshaken: &fresh)
            guard case .handshake(let error?)? = answer.first else {
                Issue.record("\(refused) was accepted")
                continue
            }
            #expect(!error.isEmpty && !fresh)
        }
        #expect(SignalR.handshakeResponse(error: nil) == "{}" + Self.rs)
    }

    @Test("a handshake and invocations in one frame are read in order")
    func severalRecords() {
        var handshaken = false
        let text =
            #"{"protocol":"json","version":1}"# + Self.rs
            + #"{"type":1,"invocationId":"1","target":"Subscribe","arguments":[["bob","ann"]]}"# + Self.rs
            + #"{"type":1,"target":"SendToUser","arguments":["bob",{"text":"hi"}]}"# + Self.rs
            + #"{"type":6}"# + Self.rs + #"{"type":7}"# + Self.rs
        #expect(
            SignalR.read(text, handshaken: &handshaken) == [
                .handshake(error: nil),
                .frame(.subscribe(id: .string("1"), target: .users(["bob", "ann"]))),
                .frame(.send(id: nil, to: "bob", data: .object(["text": .string("hi")]))),
                .ignored,
                .close,
            ])
    }

    @Test(
        "unknown targets, bad arguments and streams are refused with what is wrong",
        arguments: [
            (#"{"type":1,"invocationId":"a","target":"Teleport","arguments":[]}"#, "unknown method 'Teleport'"),
            (#"{"type":1,"invocationId":"b","target":"Subscribe","arguments":[42]}"#, "Subscribe takes one argument"),
            (#"{"type":1,"invocationId":"c","target":"Subscribe","arguments":[[]]}"#, "non-empty array"),
            (#"{"type":1,"invocationId":"d","target":"SendToUser","arguments":["bob"]}"#, "SendToUser takes two arguments"),
            (#"{"type":1,"invocationId":"e","target":"SendToUser","arguments":["",1]}"#, "SendToUser takes two arguments"),
            (#"{"type":1,"invocationId":"f","arguments":[]}"#, "needs a target"),
            (#"{"type":4,"invocationId":"g","target":"Stream","arguments":[]}"#, "streaming"),
        ])
    func refusals(record: String, says: String) {
        var handshaken = true
        guard case .refused(let id, let error)? = SignalR.read(record + Self.rs, handshaken: &handshaken).first else {
            Issue.record("\(record) was not refused")
            return
        }
        #expect(id != nil)
        #expect(error.contains(says), "\(error)")
    }

    @Test("presence and messages are invocations; answers are completions with the invocation id")
    func toTheClient() throws {
        let at = Date(timeIntervalSince1970: 1_790_000_000)
        func object(_ text: String?) throws -> [String: JSONValue] {
            let text = try #require(text)
            #expect(text.hasSuffix(Self.rs))
            guard case .object(let fields) = try JSONDecoder().decode(JSONValue.self, from: Data(text.dropLast().utf8)) else { return [:] }
            return fields
        }
        let status = try object(SignalR.text(for: .presence(PresenceTransition(userID: "bob", online: true, version: 3, at: at, connections: 2))))
        #expect(status["type"] == .number(1) && status["target"] == .string("UserStatusChanged"))
        #expect(status["arguments"] == .array([.string("bob"), .bool(true), .number(2), .number(3)]))
        let message = try object(SignalR.text(for: .message(from: "ann", data: .object(["n": .number(1)]), at: at)))
        #expect(message["target"] == .string("ReceiveMessage") && message["arguments"] == .array([.string("ann"), .object(["n": .number(1)])]))
        let done = try object(SignalR.text(for: .ack(id: .string("7"), accepted: true)))
        #expect(done == ["type": .number(3), "invocationId": .string("7")])
        let failed = try object(SignalR.text(for: .error(id: .string("8"), code: .forbidden, message: "not yours")))
        #expect(failed["error"] == .string("forbidden: not yours") && failed["invocationId"] == .string("8"))
        let snapshot = try object(SignalR.text(for: .snapshot(id: .string("9"), users: [.unknown("zed")])))
        #expect(
            snapshot["result"]
                == .array([.object(["userId": .string("zed"), "online": .bool(false), "connections": .number(0), "version": .number(0)])]))
        #expect(SignalR.text(for: .pong(id: nil)) == nil)
        #expect(SignalR.text(for: .ack(id: nil, accepted: true)) == nil, "nothing answers a call made without an invocationId")
    }
}
