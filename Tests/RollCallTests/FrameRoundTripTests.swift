import Foundation
import RollCall
import Testing

/// What a client reads back is what the hub wrote, and what a client writes the hub reads.
@Suite("Frames both ways", .timeLimit(.minutes(5)))
struct FrameRoundTripTests {
    static let at = Date(timeIntervalSince1970: 1_790_000_000.125)
    static let connection = ConnectionID()

    static let serverFrames: [ServerFrame] = [
        .welcome(connectionID: connection, userID: "ann", serverID: "hub-a", heartbeatMilliseconds: 25_000, resumed: false),
        .welcome(connectionID: connection, userID: "ann", serverID: "hub-a", heartbeatMilliseconds: 25_000, resumed: true),
        .pong(id: .number(7)),
        .pong(id: nil),
        // Ids a Double cannot hold come back exactly as the client sent them.
        .pong(id: .number(9_007_199_254_740_993)),
        .ack(id: .number(.min), accepted: true),
        .error(id: .string("s1"), code: .rateLimited, message: "slow down"),
        .ack(id: .string("m"), accepted: false),
        .snapshot(
            id: nil,
            users: [
                UserPresence(userID: "bob", online: true, connections: 2, onlineSince: at, lastSeenAt: nil, version: 3),
                .unknown("carol"),
            ]),
        .presence(PresenceTransition(userID: "bob", online: false, version: 4, at: at, connections: 0)),
        .connection(
            ConnectionEvent(
                event: .closed, connectionID: connection, userID: "bob", serverID: "hub-b", userAgent: "tab/1", at: at, reason: .timeout)),
        .connection(ConnectionEvent(event: .opened, connectionID: connection, userID: "bob", serverID: "hub-b", userAgent: nil, at: at, reason: nil)),
        .message(from: "ann", data: .object(["text": .string("hé 👋"), "n": .array([.number(1), .number(2.5), .null])]), at: at),
    ]

    @Test("every server frame decodes to itself", arguments: serverFrames)
    func serverFrame(_ frame: ServerFrame) throws {
        #expect(try ServerFrame.decode(frame.json()) == frame)
    }

    @Test("a frame of an unknown type or with a field missing is an error, not a guess")
    func unreadable() {
        #expect(throws: (any Error).self) { try ServerFrame.decode(#"{"type":"dance"}"#) }
        #expect(throws: (any Error).self) { try ServerFrame.decode(#"{"type":"ack","id":"a"}"#) }
        #expect(throws: (any Error).self) { try ServerFrame.decode("[]") }
    }

    @Test(
        "every client frame reads back as itself",
        arguments: [
            ClientFrame.ping(id: .number(3)),
            .ping(id: .number(.max)),
            .ping(id: nil),
            .subscribe(id: .string("s"), target: .users(["bob", "ann/2"])),
            .subscribe(id: nil, target: .all),
            .unsubscribe(id: .number(9), target: .users(["bob"])),
            .unsubscribe(id: nil, target: .all),
            .send(id: .string("m1"), to: "bob", data: .object(["text": .string("hi"), "list": .array([.bool(true), .null])])),
        ])
    func clientFrame(_ frame: ClientFrame) throws {
        #expect(try ClientFrame.decode(frame.json()) == frame)
    }
}
