import RollCall
import Synchronization

/// The sockets this hub holds right now, by connection and by user.
final class LiveSockets: Sendable {
    private struct Index {
        var users: [ConnectionID: String] = [:]
        var byUser: [String: Set<ConnectionID>] = [:]
    }
    private let index = Mutex(Index())

    func add(_ id: ConnectionID, user: String) {
        index.withLock {
            $0.users[id] = user
            $0.byUser[user, default: []].insert(id)
        }
    }

    func remove(_ id: ConnectionID) {
        index.withLock {
            guard let user = $0.users.removeValue(forKey: id) else { return }
            $0.byUser[user]?.remove(id)
            if $0.byUser[user]?.isEmpty == true { $0.byUser[user] = nil }
        }
    }

    var count: Int { index.withLock { $0.users.count } }

    func connections(of user: String) -> Set<ConnectionID> {
        index.withLock { $0.byUser[user] ?? [] }
    }
}
