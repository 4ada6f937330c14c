import Foundation
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

/// Rooms over `/v1/ws`, members on two hubs of one database.
@Suite("Rooms", .timeLimit(.minutes(5)))
struct RoomHubTests {
    static func state(_ status: String) -> JSONValue { .object(["status": .string(status)]) }

    /// Joins `room` and returns the `room` frame's snapshot.
    static func join(_ socket: TestSocket, _ room: String, state: JSONValue? = nil, id: String = "j") async throws -> RoomSnapshot {
        try await socket.send(.join(id: .string(id), room: room, state: state))
        let frame = try await socket.next()
        guard let snapshot = frame.roomSnapshot, frame.requestID == .string(id) else { throw UnexpectedFrame(frame: frame) }
        return snapshot
    }

    @Test("join, room_state and leave across two hubs: the joiner gets the members, every member hears each change once, in order")
    func acrossHubs() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(TestHub.configuration(serverID: "hub-a"), database: database) { a in
                try await TestHub.run(TestHub.configuration(serverID: "hub-b"), database: database) { b in
                    let ann = try await a.connect("ann")
                    let first = try await Self.join(ann, "doc-1", state: Self.state("idle"))
                    #expect(first.version == 1 && first.members.map(\.userID) == ["ann"] && first.members[0].state == Self.state("idle"))

                    let bob = try await b.connect("bob")
                    let second = try await Self.join(bob, "doc-1")
                    #expect(second.version == 2 && second.members.map(\.userID) == ["ann", "bob"])
                    #expect(second.members[1].state == .object([:]), "no state given: an empty object")
                    let joined = try await ann.next()
                    #expect(joined.roomEvent.map { "\($0.event) \($0.userID) \($0.version)" } == "joined bob 2")

                    try await ann.send(.roomState(id: .string("s"), room: "doc-1", state: Self.state("typing")))
                    // The writer's answer and the change as every member hears it, in either order.
                    let answers = [try await ann.next(), try await ann.next()]
                    #expect(Set(answers.map(\.type)) == ["ack", "room_event"])
                    #expect(answers.compactMap(\.roomEvent).map(\.version) == [3])
                    let updated = try await bob.next()
                    #expect(
                        updated.roomEvent.map { "\($0.event) \($0.userID) \($0.version) \($0.state == Self.state("typing"))" } == "updated ann 3 true"
                    )

                    try await bob.send(.leave(id: .string("l"), room: "doc-1"))
                    #expect(try await bob.next() == .ack(id: .string("l"), accepted: true))
                    let left = try await ann.next()
                    #expect(left.roomEvent.map { "\($0.event) \($0.userID) \($0.version) \($0.reason?.rawValue ?? "-")" } == "left bob 4 left")

                    // A socket that closes leaves its rooms with it.
                    let _ = try await Self.join(bob, "doc-1", id: "again")
                    #expect(try await ann.next().roomEvent?.version == 5)
                    try await bob.close()
                    let closed = try await ann.next()
                    #expect(closed.roomEvent.map { "\($0.event) \($0.userID) \($0.version) \($0.reason?.rawValue ?? "-")" } == "left bob 6 closed")

                    // bob's own leave and reconnection reached nobody twice: ann heard versions 2 to 6 once each.
                    #expect(try await ann.roundTrip())
                    try await ann.close()
                }
            }
            let rows = try await sql(database, "SELECT version, members FROM rollcall.rooms WHERE room = 'doc-1'", as: (Int64, Int).self)
            try await eventually("ann's membership ended with her socket") {
                try await sql(database, "SELECT members FROM rollcall.rooms WHERE room = 'doc-1'", as: Int.self) == [0]
            }
            #expect(rows.first?.0 ?? 0 >= 6)
        }
    }

    @Test(
        "bad room frames get clear errors and change nothing",
        arguments: [
            (#"{"type":"join","id":"1","room":"doc-1","state":"typing"}"#, "bad_request", "a room state is a JSON object, not a string"),
            (
                #"{"type":"join","id":"1","room":"doc-1","state":{"t":"\#(String(repeating: "x", count: 1100))"}}"#, "too_large",
                "a room state is at most 1024 bytes"
            ),
            (#"{"type":"join","id":"1","room":"a\u0000b"}"#, "bad_request", "a room name may not hold NUL"),
            (#"{"type":"join","id":"1","room":"\#(String(repeating: "r", count: 201))"}"#, "bad_request", "a room name is 1 to 200 bytes"),
            (#"{"type":"join","id":"1","room":""}"#, "bad_request", "a room name is 1 to 200 bytes"),
            (#"{"type":"join","id":"1"}"#, "bad_request", "join needs \"room\""),
            (#"{"type":"room_state","id":"1","room":"doc-9","state":{}}"#, "bad_request", "not in room doc-9"),
            (#"{"type":"leave","id":"1","room":"doc-9"}"#, "bad_request", "not in room doc-9"),
            (#"{"type":"join","id":"1","room":"secret-1"}"#, "forbidden", "this token may not join room secret-1"),
        ])
    func badFrames(frame: String, code: String, message: String) async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let token = try await hub.token("ann", rooms: ["doc-*", "lobby"])
                let socket = try await TestSocket.open(url: hub.webSocketURL, token: token)
                _ = try await socket.next()
                try await socket.send(frame)
                let answer = try await socket.next()
                guard case .error(let id, let errorCode, let text) = answer else { throw UnexpectedFrame(frame: answer) }
                #expect(id == .string("1") && errorCode.rawValue == code)
                #expect(text.hasPrefix(message), "\(text)")
                // The socket goes on: a room the token names is joined.
                #expect(try await Self.join(socket, "lobby").members.map(\.userID) == ["ann"])
                try await socket.close()
            }
            #expect(try await sql(database, "SELECT room FROM rollcall.rooms WHERE version > 0", as: String.self) == ["lobby"])
        }
    }

    @Test("a connection may be in 100 rooms at once; the 101st join is rate_limited, and a leave makes room")
    func roomLimit() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let socket = try await hub.connect("ann")
                for index in 0..<100 { _ = try await Self.join(socket, "room-\(index)") }
                try await socket.send(.join(id: .string("over"), room: "room-100", state: nil))
                let over = try await socket.next()
                guard case .error(_, .rateLimited, _) = over else { throw UnexpectedFrame(frame: over) }
                try await socket.send(.leave(id: .string("l"), room: "room-0"))
                let leaveAnswer = try await socket.next()
                #expect(leaveAnswer == .ack(id: .string("l"), accepted: true), "\(leaveAnswer.json())")
                #expect(try await Self.join(socket, "room-100").version == 1)
                try await socket.close()
            }
        }
    }

    @Test("GET /v1/rooms/{room} lists the members as a join does, to a token that may join it; GET /v1/rooms lists rooms with members (admin)")
    func http() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let ann = try await hub.connect("ann")
                let joined = try await Self.join(ann, "doc 1/é", state: Self.state("idle"))
                _ = try await Self.join(ann, "lobby")
                let path = "/v1/rooms/" + "doc 1/é".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let read = try await hub.get(path, token: try await hub.token("bob", rooms: ["doc *"]))
                #expect(read.status == 200)
                #expect(try ServerFrame.decode(#"{"type":"room","# + read.body.dropFirst()).roomSnapshot == joined, "the same members and version")
                #expect(try await hub.get(path, token: try await hub.token("bob", rooms: ["lobby"])).status == 403)
                let never = try await hub.get("/v1/rooms/empty", token: try await hub.token("bob"))
                #expect(never.status == 200 && never.body == #"{"members":[],"room":"empty","version":0}"#)

                #expect(try await hub.get("/v1/rooms?prefix=doc", token: try await hub.token("bob")).status == 403)
                let listed = try await hub.get("/v1/rooms?prefix=doc", token: try await hub.token("root", admin: true))
                #expect(listed.status == 200 && listed.body == #"{"next_cursor":null,"rooms":[{"members":1,"room":"doc 1/é","version":1}]}"#)
                let all = try await hub.get("/v1/rooms?limit=1", token: try await hub.token("root", admin: true))
                #expect(all.body.contains(#""next_cursor":"doc 1/é""#), "\(all.body)")
                try await ann.close()
            }
        }
    }

    @Test(
        "rapid joins, state changes and leaves from ten sockets on two hubs: a member on each hub hears every version once, in order, and ends where the database is"
    )
    func churnAcrossHubs() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(TestHub.configuration(serverID: "hub-a"), database: database) { a in
                try await TestHub.run(TestHub.configuration(serverID: "hub-b"), database: database) { b in
                    let watchers = [try await a.connect("watch-a"), try await b.connect("watch-b")]
                    var snapshots: [RoomSnapshot] = []
                    for watcher in watchers { snapshots.append(try await Self.join(watcher, "doc-1")) }
                    let churners = try await withThrowingTaskGroup(of: TestSocket.self) { group in
                        for index in 0..<10 { group.addTask { try await (index % 2 == 0 ? a : b).connect("churn-\(index)") } }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for socket in churners {
                            group.addTask {
                                for round in 0..<4 {
                                    _ = try await Self.join(socket, "doc-1", state: Self.state("r\(round)"), id: "j\(round)")
                                    for step in 0..<3 {
                                        try await socket.send(
                                            .roomState(id: .string("s\(round).\(step)"), room: "doc-1", state: Self.state("\(round).\(step)")))
                                        _ = try await socket.frames(until: { $0.requestID == .string("s\(round).\(step)") })
                                    }
                                    try await socket.send(.leave(id: .string("l\(round)"), room: "doc-1"))
                                    _ = try await socket.frames(until: { $0.requestID == .string("l\(round)") })
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                    // 10 sockets × 4 rounds × (join, 3 states, leave), after the two watchers' joins.
                    let last = Int64(2 + 10 * 4 * 5)
                    let final = try await a.get("/v1/rooms/doc-1", token: try await a.token("reader"))
                    for (watcher, snapshot) in zip(watchers, snapshots) {
                        let frames = try await watcher.frames(until: { $0.roomEvent?.version == last }, timeout: .seconds(60))
                        let events = frames.compactMap(\.roomEvent)
                        #expect(events.map(\.version) == Array((snapshot.version + 1)...last), "every version once, in order")
                        var members = Dictionary(uniqueKeysWithValues: snapshot.members.map { ($0.connectionID, $0.userID) })
                        for event in events {
                            if event.event == .left { members[event.connectionID] = nil } else { members[event.connectionID] = event.userID }
                        }
                        #expect(Set(members.values) == ["watch-a", "watch-b"])
                    }
                    #expect(final.body.contains(#""version":\#(last)"#), "\(final.body)")
                    for socket in churners + watchers { try await socket.close() }
                }
            }
        }
    }

    @Test(
        "a membership the database ended under a live socket (a purge while its hub was cut off): its next change is refused, and joining again works"
    )
    func membershipEndedUnderTheSocket() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let ann = try await hub.connect("ann")
                _ = try await Self.join(ann, "doc-1", state: Self.state("idle"))
                try await ann.send(.join(id: .string("twice"), room: "doc-1", state: nil))
                let twice = try await ann.next()
                #expect(twice.errorCode == .badRequest && twice.requestID == .string("twice"), "\(twice)")
                // What the orphan purge writes for a hub it judged dead.
                try await execute(
                    database,
                    """
                    UPDATE rollcall.room_members SET present = false, until = now(), ended_by = 'orphaned', ended_at_version = 2
                    WHERE room = 'doc-1' AND present
                    """)
                try await execute(database, "UPDATE rollcall.rooms SET version = 2, members = 0 WHERE room = 'doc-1'")
                try await ann.send(.roomState(id: .string("s"), room: "doc-1", state: Self.state("typing")))
                let refused = try await ann.next()
                #expect(refused.errorCode == .badRequest && refused.requestID == .string("s"), "\(refused)")
                let again = try await Self.join(ann, "doc-1", state: Self.state("typing"), id: "again")
                #expect(again.version == 3 && again.members.map(\.userID) == ["ann"])
                try await ann.close()
            }
        }
    }
}
