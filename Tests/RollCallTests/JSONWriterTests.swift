import Foundation
import RollCall
import Testing

/// The hand-written JSON the hub sends is the text `JSONEncoder` gives with RollCall's conventions.
@Suite("JSON written by hand", .timeLimit(.minutes(2)))
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

    @Test("notification pieces are written as the encoder writes them")
    func notificationPieces() throws {
        let transition = PresenceTransition(userID: Self.awkward, online: true, version: 9, at: Self.at, connections: 3)
        #expect(transition.json == RollCallJSON.string(transition))
        for event in [
            ConnectionEvent(event: .closed, connectionID: ConnectionID(), userID: "bob", serverID: "hub-b", userAgent: Self.awkward, at: Self.at, reason: .timeout),
            ConnectionEvent(event: .opened, connectionID: ConnectionID(), userID: "bob", serverID: "hub-b", userAgent: nil, at: Self.at, reason: nil),
        ] {
            #expect(event.json == RollCallJSON.string(event))
        }
        let message = UserMessage(to: "ann", from: "bob", data: .object(["text": .string(Self.awkward), "n": .number(1)]), at: Self.at)
        #expect(message.json == RollCallJSON.string(message))
    }

    @Test("a frame's keys come in sorted order and absent fields are left out")
    func frameText() {
        let presence = ServerFrame.presence(PresenceTransition(userID: "bob", online: false, version: 4, at: Self.at, connections: 0))
        #expect(presence.json() == #"{"at":"2026-09-21T14:13:20.125Z","connections":0,"online":false,"type":"presence","user_id":"bob","version":4}"#)
        #expect(ServerFrame.pong(id: nil).json() == #"{"type":"pong"}"#)
        #expect(ServerFrame.ack(id: .number(7), accepted: true).json() == #"{"accepted":true,"id":7,"type":"ack"}"#)
    }
}
