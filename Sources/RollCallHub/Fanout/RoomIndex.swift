import RollCall
import Synchronization

/// Which local sockets are in (or joining) which rooms: a room event costs work only for the
/// sockets in its room.
final class RoomIndex: Sendable {
    private struct Index {
        var byRoom: [String: [ConnectionID: Mailbox]] = [:]
        var byConnection: [ConnectionID: Set<String>] = [:]
    }
    private let index = Mutex(Index())

    func add(_ room: String, for id: ConnectionID, mailbox: Mailbox) {
        index.withLock { index in
            index.byRoom[room, default: [:]][id] = mailbox
            index.byConnection[id, default: []].insert(room)
        }
    }

    func remove(_ room: String, for id: ConnectionID) {
        index.withLock { index in
            index.byRoom[room]?[id] = nil
            if index.byRoom[room]?.isEmpty == true { index.byRoom[room] = nil }
            index.byConnection[id]?.remove(room)
            if index.byConnection[id]?.isEmpty == true { index.byConnection[id] = nil }
        }
    }

    /// Forgets a socket entirely (it closed): its rows' memberships end with its close.
    func remove(_ id: ConnectionID) {
        index.withLock { index in
            for room in index.byConnection.removeValue(forKey: id) ?? [] {
                index.byRoom[room]?[id] = nil
                if index.byRoom[room]?.isEmpty == true { index.byRoom[room] = nil }
            }
        }
    }

    /// Whether any local socket is in a room.
    var hasMembers: Bool { index.withLock { !$0.byRoom.isEmpty } }

    /// Hands one hub's batch of room events to the sockets in those rooms.
    func deliver(_ events: [RoomEvent]) {
        guard !events.isEmpty else { return }
        let mailboxes = index.withLock { index in events.map { index.byRoom[$0.room].map { Array($0.values) } ?? [] } }
        for (event, members) in zip(events, mailboxes) {
            for mailbox in members { mailbox.yield(.room(.event(event))) }
        }
    }
}
