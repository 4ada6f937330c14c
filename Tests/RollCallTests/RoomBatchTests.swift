import Foundation
import RollCall
import Testing

@Suite("Room batches", .timeLimit(.minutes(5)))
struct RoomBatchTests {
    let now = Date(timeIntervalSince1970: 1_796_083_200)
    let ann = ConnectionID(), bob = ConnectionID()
    let typing: JSONValue = .object(["status": .string("typing")])
    let idle: JSONValue = .object(["status": .string("idle")])

    @Test("each allowed change takes its room's next version, in the order asked; refusals take none")
    func versionsInOrder() {
        let batch = RoomBatch(
            changes: [
                .join(room: "doc-1", connectionID: ann, userID: "ann", state: idle),
                .join(room: "doc-2", connectionID: ann, userID: "ann", state: idle),
                .setState(room: "doc-1", connectionID: ann, state: typing),
                .join(room: "doc-1", connectionID: ann, userID: "ann", state: idle),
                .setState(room: "doc-1", connectionID: bob, state: typing),
                .leave(room: "doc-1", connectionID: ann),
            ],
            departures: [], present: [:], versions: ["doc-1": 7], now: now)
        #expect(
            batch.answers == [
                .done(version: 8), .done(version: 1), .done(version: 9),
                .refused("already in room doc-1: leave it first, or set its state with room_state"),
                .refused("not in room doc-1: join it first"), .done(version: 10),
            ])
        #expect(
            batch.events.map { "\($0.room) \($0.event) \($0.version)" } == ["doc-1 joined 8", "doc-2 joined 1", "doc-1 updated 9", "doc-1 left 10"])
        #expect(batch.versions == ["doc-1": 10, "doc-2": 1])
        #expect(batch.memberDelta == ["doc-1": 0, "doc-2": 1])
        #expect(batch.events.last?.reason == .left && batch.events.last?.state == typing, "a leave carries the last state")
        // Joined, updated and left within the batch: two stretches begun and ended here, none before it.
        #expect(batch.ended.isEmpty)
        #expect(
            batch.begun.map { "\($0.key.room) \($0.stretch.beganAtVersion) \($0.endedBy ?? "present") \($0.endedAtVersion ?? 0)" } == [
                "doc-1 8 updated 9", "doc-2 1 present 0", "doc-1 9 left 10",
            ])
    }

    @Test("a state change ends the stretch present before the batch and begins the next, keeping when the member joined")
    func updateOfEarlierMember() {
        let joined = now.addingTimeInterval(-60)
        let key = RoomBatch.Key(room: "doc-1", connectionID: ann)
        let batch = RoomBatch(
            changes: [.setState(room: "doc-1", connectionID: ann, state: typing)], departures: [],
            present: [key: .init(userID: "ann", state: idle, joinedAt: joined, beganAtVersion: 3)], versions: ["doc-1": 5], now: now)
        #expect(batch.ended.map { "\($0.key.room) \($0.endedBy) \($0.version)" } == ["doc-1 updated 6"])
        #expect(batch.begun.count == 1 && batch.begun[0].stretch == .init(userID: "ann", state: typing, joinedAt: joined, beganAtVersion: 6))
        #expect(batch.memberDelta.isEmpty || batch.memberDelta == ["doc-1": 0])
    }

    @Test("a closed connection leaves every room it is in, after the changes asked for, rooms in name order, with its reason")
    func departures() {
        let present: [RoomBatch.Key: RoomBatch.Stretch] = [
            .init(room: "b", connectionID: ann): .init(userID: "ann", state: idle, joinedAt: now, beganAtVersion: 1),
            .init(room: "a", connectionID: ann): .init(userID: "ann", state: idle, joinedAt: now, beganAtVersion: 1),
            .init(room: "a", connectionID: bob): .init(userID: "bob", state: idle, joinedAt: now, beganAtVersion: 2),
        ]
        let batch = RoomBatch(
            changes: [.setState(room: "a", connectionID: ann, state: typing)], departures: [(ann, .orphaned)], present: present,
            versions: ["a": 2, "b": 1], now: now)
        #expect(
            batch.events.map { "\($0.room) \($0.event) \($0.version) \($0.reason?.rawValue ?? "-")" } == [
                "a updated 3 -", "a left 4 orphaned", "b left 2 orphaned",
            ])
        #expect(batch.ended.map { "\($0.key.room) \($0.endedBy) \($0.version)" } == ["a updated 3", "b orphaned 2"])
        #expect(batch.begun.map { "\($0.key.room) \($0.endedBy ?? "present")" } == ["a orphaned"])
        #expect(batch.memberDelta == ["a": -1, "b": -1])
    }

    @Test("names and states: clear refusals for what a room cannot hold")
    func limits() {
        #expect(Room.problem(withName: "doc-1") == nil)
        #expect(Room.problem(withName: String(repeating: "é", count: 100)) == nil, "200 bytes")
        #expect(Room.problem(withName: String(repeating: "é", count: 101)) != nil, "202 bytes")
        #expect(Room.problem(withName: "") != nil)
        #expect(Room.problem(withName: "a\u{0}b") == "a room name may not hold NUL")
        #expect(Room.state(from: nil) == .success(.object([:])))
        #expect(Room.state(from: .string("typing")) == .failure(.notAnObject("a string")))
        let big = JSONValue.object(["text": .string(String(repeating: "x", count: 1100))])
        #expect(Room.state(from: big) == .failure(.tooLarge(big.json.utf8.count)))
        #expect(RoomLeaveReason(closing: .timeout) == .closed && RoomLeaveReason(closing: .orphaned) == .orphaned)
    }
}
