import RollCall
import Synchronization

/// Which local sockets are in (or joining) which rooms: a room event costs work only for the
/// sockets in its room.
final class RoomIndex: Sendable {
    private struct Index {
        var byRoom: [String: [ConnectionID: Mailbox]] = [:]
        var byConnection: [ConnectionID: Set<String>] = [:]
        /// Per room with local members: the newest version this hub heard (or, before it heard
        /// any, the version of the first local join): where a resync after a LISTEN outage starts.
        var heard: [String: Int64] = [:]
    }
    private let index = Mutex(Index())

    func add(_ room: String, for id: ConnectionID, mailbox: Mailbox) {
        index.withLock { index in
            index.byRoom[room, default: [:]][id] = mailbox
            index.byConnection[id, default: []].insert(room)
        }
    }

    /// A local join was written at `version`: a room new to this hub is heard from there on.
    func joined(_ room: String, at version: Int64) {
        index.withLock { index in
            if index.byRoom[room] != nil, index.heard[room] == nil { index.heard[room] = version }
        }
    }

    func remove(_ room: String, for id: ConnectionID) {
        index.withLock { index in
            index.byRoom[room]?[id] = nil
            if index.byRoom[room]?.isEmpty == true {
                index.byRoom[room] = nil
                index.heard[room] = nil
            }
            index.byConnection[id]?.remove(room)
            if index.byConnection[id]?.isEmpty == true { index.byConnection[id] = nil }
        }
    }

    /// Forgets a socket entirely (it closed): its rows' memberships end with its close.
    func remove(_ id: ConnectionID) {
        index.withLock { index in
            for room in index.byConnection.removeValue(forKey: id) ?? [] {
                index.byRoom[room]?[id] = nil
                if index.byRoom[room]?.isEmpty == true {
                    index.byRoom[room] = nil
                    index.heard[room] = nil
                }
            }
        }
    }

    /// The rooms with local members, each with the newest version this hub heard of it.
    var heardVersions: [String: Int64] {
        index.withLock { index in index.byRoom.keys.reduce(into: [:]) { $0[$1] = index.heard[$1] ?? 0 } }
    }

    /// Whether any local socket is in a room.
    var hasMembers: Bool { index.withLock { !$0.byRoom.isEmpty } }

    /// Hands one hub's batch of room events to the sockets in those rooms.
    func deliver(_ events: [RoomEvent]) {
        guard !events.isEmpty else { return }
        let mailboxes = index.withLock { index in
            events.map { event in
                guard let members = index.byRoom[event.room] else { return [Mailbox]() }
                index.heard[event.room] = max(index.heard[event.room] ?? 0, event.version)
                return Array(members.values)
            }
        }
        for (event, members) in zip(events, mailboxes) {
            for mailbox in members { mailbox.yield(.room(.event(event))) }
        }
    }
}
