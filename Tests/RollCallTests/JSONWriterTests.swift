import Foundation
import RollCall
import Testing

/// The hand-written JSON the hub sends: sorted keys, escapes, times with milliseconds, numbers as they came.
@Suite("JSON written by hand", .timeLimit(.minutes(5)))
struct JSONWriterTests {
    static let at = Date(timeIntervalSince1970: 1_790_000_000.125)
    /// Every control character, quotes, backslashes, slashes, non-ASCII and a scalar outside the BMP.
    static let awkward = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) }.joined() + #"q"b\s/é👋"#

    static let values: [JSONValue] = [
        .null, .bool(true), .number(0), .number(-42), .number(2.5), .number(1e-7), .number(1e20), .number(123_456_789_012),
        .string(""), .string(awkward),
        .array([]), .object([:]),
        .object(["z": .number(1), "a": .array([.string("x"), .null, .object(["k": .bool(false), "b": .string(awkward)])]), "_": .null]),
    ]

    @Test("a JSON value is written as the encoder writes it", arguments: values)
    func value(_ value: JSONValue) {
        #expect(value.json == RollCallJSON.string(value))
    }

    @Test("notification pieces are written with sorted keys, escapes and absent fields left out")
    func notificationPieces() throws {
        let transition = PresenceTransition(userID: "b\"o\nb", online: true, version: 9, at: Self.at, connections: 3)
        #expect(transition.json == #"{"at":"2026-09-21T14:13:20.125Z","connections":3,"online":true,"user":"b\"o\nb","version":9}"#)
        let id = ConnectionID("0b5a2c1e-3d4f-4a6b-8c7d-9e0f1a2b3c4d")!
        let closed = ConnectionEvent(
            event: .closed, connectionID: id, userID: "bob", serverID: "hub-b", userAgent: "tab\t1", at: Self.at, reason: .timeout)
        #expect(
            closed.json
                == #"{"at":"2026-09-21T14:13:20.125Z","connection_id":"0b5a2c1e-3d4f-4a6b-8c7d-9e0f1a2b3c4d","event":"closed","reason":"timeout","server_id":"hub-b","user_agent":"tab\t1","user_id":"bob"}"#
        )
        let opened = ConnectionEvent(event: .opened, connectionID: id, userID: "bob", serverID: "hub-b", userAgent: nil, at: Self.at, reason: nil)
        #expect(
            opened.json
                == #"{"at":"2026-09-21T14:13:20.125Z","connection_id":"0b5a2c1e-3d4f-4a6b-8c7d-9e0f1a2b3c4d","event":"opened","server_id":"hub-b","user_id":"bob"}"#
        )
        let message = UserMessage(to: "ann", from: "bob", data: .object(["text": .string("é/👋"), "n": .number(1)]), at: Self.at)
        #expect(message.json == #"{"at":"2026-09-21T14:13:20.125Z","data":{"n":1,"text":"é/👋"},"from":"bob","to":"ann"}"#)
    }

    @Test("numbers keep what they were: integers exactly, other numbers as a Double writes them")
    func numbers() throws {
        for (text, written) in [
            ("9007199254740993", "9007199254740993"), ("-9223372036854775808", "-9223372036854775808"), ("2.0", "2"),
            ("1e3", "1000"), ("1e15", "1000000000000000"), ("2.5", "2.5"), ("9223372036854775808", "9.223372036854776e+18"),
        ] {
            #expect(try JSONParser.parse(text).json == written, "\(text)")
        }
        #expect(try JSONParser.parse("9007199254740993") != JSONParser.parse("9007199254740992"))
        #expect(try JSONParser.parse("2.0") == .number(2))
    }

    @Test("a frame's keys come in sorted order and absent fields are left out")
    func frameText() {
        let presence = ServerFrame.presence(PresenceTransition(userID: "bob", online: false, version: 4, at: Self.at, connections: 0))
        #expect(presence.json() == #"{"at":"2026-09-21T14:13:20.125Z","connections":0,"online":false,"type":"presence","user_id":"bob","version":4}"#)
        #expect(ServerFrame.pong(id: nil).json() == #"{"type":"pong"}"#)
        #expect(ServerFrame.ack(id: .number(7), accepted: true).json() == #"{"accepted":true,"id":7,"type":"ack"}"#)
    }
}
