import Foundation

/// What one registry batch does to rooms, decided from the rooms' versions and the memberships
/// it touches as they were before it: the changes connections asked for, in the order they asked,
/// then the memberships of the connections the batch closed. Each change that is allowed takes its
/// room's next version. Pure, so the rules are tested without a database; the writer reads what
/// is present, runs this, and writes `ended`, `begun` and the new versions.
public struct RoomBatch: Sendable, Equatable {
    /// A connection's place in a room.
    public struct Key: Sendable, Hashable, Comparable {
        public let room: String
        public let connectionID: ConnectionID

        public init(room: String, connectionID: ConnectionID) {
            self.room = room
            self.connectionID = connectionID
        }

        public static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.room, lhs.connectionID.description) < (rhs.room, rhs.connectionID.description)
        }
    }

    /// A membership's current stretch (one state, from `beganAtVersion` on).
    public struct Stretch: Sendable, Equatable {
        public let userID: String
        public var state: JSONValue
        public let joinedAt: Date
        public var beganAtVersion: Int64

        public init(userID: String, state: JSONValue, joinedAt: Date, beganAtVersion: Int64) {
            self.userID = userID
            self.state = state
            self.joinedAt = joinedAt
            self.beganAtVersion = beganAtVersion
        }
    }

    /// A stretch this batch begins; `endedBy` set when the batch also ends it.
    public struct Begun: Sendable, Equatable {
        public let key: Key
        public let stretch: Stretch
        public var endedBy: String?
        public var endedAtVersion: Int64?
    }

    /// A stretch present before the batch that it ends.
    public struct Ended: Sendable, Equatable {
        public let key: Key
        public let endedBy: String
        public let version: Int64
    }

    /// The answer to each change, in the order given: the version it took, or why it was refused.
    public enum Answer: Sendable, Equatable {
        case done(version: Int64)
        case refused(String)
    }

    public private(set) var answers: [Answer] = []
    public private(set) var events: [RoomEvent] = []
    public private(set) var ended: [Ended] = []
    public private(set) var begun: [Begun] = []
    /// Each touched room's version after the batch.
    public private(set) var versions: [String: Int64]
    /// Each touched room's change in members.
    public private(set) var memberDelta: [String: Int] = [:]

    /// - Parameters:
    ///   - present: the stretches present before the batch of every key the changes name and of
    ///     every connection in `departures`.
    ///   - versions: every touched room's version before the batch (0 for a new room).
    ///   - now: the transaction's time: when members join and every event's `at`.
    public init(
        changes: [RoomChange], departures: [(ConnectionID, RoomLeaveReason)], present: [Key: Stretch], versions: [String: Int64],
        now: Date
    ) {
        self.versions = versions
        var live = present
        /// Stretches begun in this batch and still present, by key: their index in `begun`.
        var open: [Key: Int] = [:]

        func next(_ room: String) -> Int64 {
            let version = (self.versions[room] ?? 0) + 1
            self.versions[room] = version
            return version
        }
        func end(_ key: Key, by reason: String, at version: Int64) {
            if let index = open.removeValue(forKey: key) {
                begun[index].endedBy = reason
                begun[index].endedAtVersion = version
            } else {
                ended.append(Ended(key: key, endedBy: reason, version: version))
            }
        }
        func begin(_ key: Key, _ stretch: Stretch) {
            live[key] = stretch
            open[key] = begun.count
            begun.append(Begun(key: key, stretch: stretch, endedBy: nil, endedAtVersion: nil))
        }
        func record(_ kind: RoomEvent.Kind, _ key: Key, _ stretch: Stretch, _ version: Int64, _ reason: RoomLeaveReason? = nil) {
            events.append(
                RoomEvent(
                    room: key.room, event: kind, connectionID: key.connectionID, userID: stretch.userID, state: stretch.state, version: version,
                    at: now, reason: reason))
        }

        for change in changes {
            let key = Key(room: change.room, connectionID: change.connectionID)
            switch change {
            case .join(let room, _, let userID, let state):
                guard live[key] == nil else {
                    answers.append(.refused("already in room \(room): leave it first, or set its state with room_state"))
                    continue
                }
                let version = next(room)
                let stretch = Stretch(userID: userID, state: state, joinedAt: now, beganAtVersion: version)
                begin(key, stretch)
                memberDelta[room, default: 0] += 1
                record(.joined, key, stretch, version)
                answers.append(.done(version: version))
            case .setState(let room, _, let state):
                guard var stretch = live[key] else {
                    answers.append(.refused("not in room \(room): join it first"))
                    continue
                }
                let version = next(room)
                end(key, by: "updated", at: version)
                stretch.state = state
                stretch.beganAtVersion = version
                begin(key, stretch)
                record(.updated, key, stretch, version)
                answers.append(.done(version: version))
            case .leave(let room, _):
                guard let stretch = live.removeValue(forKey: key) else {
                    answers.append(.refused("not in room \(room)"))
                    continue
                }
                let version = next(room)
                end(key, by: RoomLeaveReason.left.rawValue, at: version)
                memberDelta[room, default: 0] -= 1
                record(.left, key, stretch, version, .left)
                answers.append(.done(version: version))
            }
        }

        let leaving = Dictionary(departures, uniquingKeysWith: { first, _ in first })
        for key in live.keys.filter({ leaving[$0.connectionID] != nil }).sorted() {
            guard let stretch = live.removeValue(forKey: key), let reason = leaving[key.connectionID] else { continue }
            let version = next(key.room)
            end(key, by: reason.rawValue, at: version)
            memberDelta[key.room, default: 0] -= 1
            record(.left, key, stretch, version, reason)
        }
    }
}
