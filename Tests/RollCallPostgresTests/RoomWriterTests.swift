import Foundation
import PostgresNIO
import RollCall
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Rooms in the registry", .timeLimit(.minutes(5)))
struct RoomWriterTests {
    static func state(_ status: String) -> JSONValue { .object(["status": .string(status)]) }

    /// Opens one connection per user on `writer`.
    static func open(_ users: [String], on writer: RegistryWriter) async throws -> [ConnectionID] {
        var ids: [ConnectionID] = []
        for user in users {
            let connection = NewConnection(userID: user, userAgent: nil, remoteAddress: nil)
            _ = try await writer.open(connection)
            ids.append(connection.connectionID)
        }
        return ids
    }

    /// The members a watcher ends with: a snapshot, then every event newer than it, applied in order.
    static func replay(_ snapshot: RoomSnapshot, _ events: [RoomEvent]) -> [String: JSONValue] {
        var members = Dictionary(uniqueKeysWithValues: snapshot.members.map { ($0.connectionID.description, $0.state) })
        for event in events where event.room == snapshot.room && event.version > snapshot.version {
            switch event.event {
            case .joined, .updated: members[event.connectionID.description] = event.state
            case .left: members[event.connectionID.description] = nil
            }
        }
        return members
    }

    static func presentRows(_ database: DatabaseLocation, room: String) async throws -> [String: JSONValue] {
        let rows = try await sql(
            database, "SELECT connection_id::text, state::text FROM rollcall.room_members WHERE present AND room = \(room)", as: (String, String).self
        )
        return Dictionary(uniqueKeysWithValues: try rows.map { ($0.0, try JSONParser.parse($0.1)) })
    }

    @Test("joins, state changes and leaves from two hubs at once: versions contiguous, each change heard once, in order; counts exact")
    func churnAcrossHubs() async throws {
        try await withTestDatabase { database in
            let tap = PresenceTap()
            try await tap.listen(database) {
                try await withTestClient(database) { client in
                    let a = RegistryWriter(
                        serverID: "hub-a", client: client, seal: testSeal, maxBatch: 20, linger: .milliseconds(2), attemptLimit: testAttemptLimit,
                        logger: testLogger)
                    let b = RegistryWriter(
                        serverID: "hub-b", client: client, seal: testSeal, maxBatch: 20, linger: .milliseconds(2), attemptLimit: testAttemptLimit,
                        logger: testLogger)
                    try await a.running {
                        try await b.running {
                            let onA = try await Self.open((0..<6).map { "a-\($0)" }, on: a)
                            let onB = try await Self.open((0..<6).map { "b-\($0)" }, on: b)
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                for (writer, ids, prefix) in [(a, onA, "a"), (b, onB, "b")] {
                                    for (index, id) in ids.enumerated() {
                                        group.addTask {
                                            let user = "\(prefix)-\(index)"
                                            for round in 0..<5 {
                                                guard
                                                    case .joined = try await writer.change(
                                                        .join(room: "doc-1", connectionID: id, userID: user, state: Self.state("in \(round)")))
                                                else { throw RoomTestFailure(what: "join refused") }
                                                for step in 0..<3 {
                                                    _ = try await writer.change(
                                                        .setState(room: "doc-1", connectionID: id, state: Self.state("\(round).\(step)")))
                                                }
                                                // Every other connection stays in the room at the end.
                                                if round < 4 || index % 2 == 0 {
                                                    _ = try await writer.change(.leave(room: "doc-1", connectionID: id))
                                                }
                                            }
                                        }
                                    }
                                }
                                try await group.waitForAll()
                            }
                        }
                    }
                }
                // 12 connections × (5 joins + 15 updates) + 54 leaves.
                try await eventually(timeout: .seconds(30), "every room change heard") { tap.roomEvents.count == 12 * 20 + 54 }
            }
            let events = tap.roomEvents
            #expect(events.map(\.version) == Array(1...Int64(events.count)), "one version per change, heard in order")
            let room = try await sql(database, "SELECT version, members FROM rollcall.rooms WHERE room = 'doc-1'", as: (Int64, Int).self)
            #expect(room.count == 1 && room[0].0 == Int64(events.count) && room[0].1 == 6)
            let present = try await Self.presentRows(database, room: "doc-1")
            #expect(Self.replay(RoomSnapshot(room: "doc-1", version: 0, members: []), events) == present)
            #expect(present.count == 6 && present.values.allSatisfy { $0 == Self.state("4.2") })
            let stretches = try await sql(
                database, "SELECT count(*)::int FROM rollcall.room_members WHERE room = 'doc-1'", as: Int.self)
            #expect(stretches == [12 * 20], "one row per state: each join and each update began one")
            // What a hub whose LISTEN was down reads again: the same events, from the rows.
            let reread = try await withTestClient(database) { client in
                try await RegistryReader(client: client, logger: testLogger).roomEvents("doc-1", after: 100)
            }
            func text(_ event: RoomEvent) -> String {
                "\(event.version) \(event.event) \(event.connectionID) \(event.userID) \(event.state.json) \(event.reason?.rawValue ?? "-")"
            }
            let expected = Array(events.drop(while: { $0.version <= 100 }))
            let differing = zip(reread.map(text), expected.map(text)).first { $0 != $1 }
            #expect(
                reread.count == expected.count && differing == nil,
                "\(reread.count) of \(expected.count); first difference: \(String(describing: differing))")
            // Times as the wire carries them, to the millisecond.
            #expect(zip(reread, expected).allSatisfy { abs($0.at.timeIntervalSince($1.at)) < 0.002 })
        }
    }

    @Test("a join's snapshot is the room at the version it names, however the room changes meanwhile")
    func snapshotRacesChanges() async throws {
        try await withTestDatabase { database in
            let tap = PresenceTap()
            try await tap.listen(database) {
                try await withTestClient(database) { client in
                    let a = RegistryWriter(
                        serverID: "hub-a", client: client, seal: testSeal, maxBatch: 20, attemptLimit: testAttemptLimit, logger: testLogger)
                    let b = RegistryWriter(
                        serverID: "hub-b", client: client, seal: testSeal, maxBatch: 20, attemptLimit: testAttemptLimit, logger: testLogger)
                    try await a.running {
                        try await b.running {
                            let busy = try await Self.open(["busy"], on: a)[0]
                            let joiners = try await Self.open((0..<10).map { "joiner-\($0)" }, on: b)
                            _ = try await a.change(.join(room: "doc-1", connectionID: busy, userID: "busy", state: Self.state("0")))
                            let snapshots = try await withThrowingTaskGroup(of: RoomSnapshot?.self) { group in
                                group.addTask {
                                    for step in 1...40 {
                                        _ = try await a.change(.setState(room: "doc-1", connectionID: busy, state: Self.state("\(step)")))
                                    }
                                    return nil
                                }
                                for (index, id) in joiners.enumerated() {
                                    group.addTask {
                                        guard
                                            case .joined(let snapshot) = try await b.change(
                                                .join(room: "doc-1", connectionID: id, userID: "joiner-\(index)", state: Self.state("here")))
                                        else { return nil }
                                        return snapshot
                                    }
                                }
                                var snapshots: [RoomSnapshot] = []
                                for try await snapshot in group { if let snapshot { snapshots.append(snapshot) } }
                                return snapshots
                            }
                            #expect(snapshots.count == 10)
                            try await eventually(timeout: .seconds(30), "every change heard") { tap.roomEvents.count == 1 + 40 + 10 }
                            let final = try await Self.presentRows(database, room: "doc-1")
                            for snapshot in snapshots {
                                #expect(Self.replay(snapshot, tap.roomEvents) == final, "snapshot at \(snapshot.version) plus what followed")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("refused: joining twice, changing a room the connection is not in; nothing written for them")
    func refusals() async throws {
        try await withTestDatabase { database in
            try await withTestClient(database) { client in
                let writer = RegistryWriter(
                    serverID: "hub-a", client: client, seal: testSeal, maxBatch: 20, attemptLimit: testAttemptLimit, logger: testLogger)
                try await writer.running {
                    let id = try await Self.open(["ann"], on: writer)[0]
                    guard
                        case .joined(let snapshot) = try await writer.change(
                            .join(room: "doc-1", connectionID: id, userID: "ann", state: .object([:])))
                    else { throw RoomTestFailure(what: "join refused") }
                    #expect(snapshot.version == 1 && snapshot.members.map(\.userID) == ["ann"])
                    #expect(
                        try await writer.change(.join(room: "doc-1", connectionID: id, userID: "ann", state: .object([:])))
                            == .refused("already in room doc-1: leave it first, or set its state with room_state"))
                    #expect(
                        try await writer.change(.setState(room: "doc-2", connectionID: id, state: .object([:])))
                            == .refused("not in room doc-2: join it first"))
                    #expect(try await writer.change(.leave(room: "doc-2", connectionID: id)) == .refused("not in room doc-2"))
                }
            }
            #expect(
                try await sql(database, "SELECT room, version FROM rollcall.rooms WHERE members > 0", as: (String, Int64).self).map { "\($0) \($1)" }
                    == ["doc-1 1"])
        }
    }

    @Test("a connection that closes leaves its rooms in the same transaction (closed); a dead hub's, when the purge closes them (orphaned)")
    func departures() async throws {
        try await withTestDatabase { database in
            let tap = PresenceTap()
            try await tap.listen(database) {
                try await withTestClient(database) { client in
                    let dead = RegistryWriter(
                        serverID: "hub-dead", client: client, seal: testSeal, maxBatch: 20, attemptLimit: testAttemptLimit, logger: testLogger)
                    let (ann, bob) = try await dead.running {
                        let ids = try await Self.open(["ann", "bob"], on: dead)
                        for room in ["doc-1", "doc-2"] {
                            for (id, user) in zip(ids, ["ann", "bob"]) {
                                _ = try await dead.change(.join(room: room, connectionID: id, userID: user, state: Self.state("typing")))
                            }
                        }
                        dead.close(ids[0], reason: .clientClosed)
                        return (ids[0], ids[1])
                    }
                    try await execute(
                        database,
                        "INSERT INTO rollcall.servers (server_id, version, host, heartbeat_at) VALUES ('hub-dead', 'test', 'gone', now() - interval '2 minutes')"
                    )
                    let purger = RegistryWriter(
                        serverID: "hub-live", client: client, seal: testSeal, maxBatch: 20, attemptLimit: testAttemptLimit, logger: testLogger)
                    let purged = try await purger.running { try await purger.purgeOrphans(window: .seconds(60)) }
                    #expect(purged.rowsClosed == 1)
                    try await eventually(timeout: .seconds(30), "every departure heard") { tap.roomEvents.filter { $0.event == .left }.count == 4 }
                    let left = tap.roomEvents.filter { $0.event == .left }
                    #expect(
                        left.map { "\($0.room) \($0.userID) \($0.reason?.rawValue ?? "-") \($0.state == Self.state("typing"))" } == [
                            "doc-1 ann closed true", "doc-2 ann closed true", "doc-1 bob orphaned true", "doc-2 bob orphaned true",
                        ])
                    #expect(Set(left.map(\.connectionID)) == [ann, bob])
                }
            }
            let rooms = try await sql(database, "SELECT room, version, members FROM rollcall.rooms ORDER BY room", as: (String, Int64, Int).self)
            #expect(rooms.map { "\($0) \($1) \($2)" } == ["doc-1 4 0", "doc-2 4 0"])
            let sessions = try await sql(
                database, "SELECT user_id, leave_reason, states::int FROM rollcall.room_sessions WHERE room = 'doc-1' ORDER BY user_id",
                as: (String, String?, Int).self)
            #expect(sessions.map { "\($0) \($1 ?? "present") \($2)" } == ["ann closed 1", "bob orphaned 1"])
        }
    }
}

struct RoomTestFailure: Error {
    let what: String
}
