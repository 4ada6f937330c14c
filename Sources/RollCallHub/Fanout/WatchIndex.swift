import RollCall
import Synchronization

/// Which local sockets watch which users: a transition costs work only for the sockets that
/// watch that user (and admin `all` feeds).
final class WatchIndex: Sendable {
    private struct Index {
        var byUser: [String: [ConnectionID: Mailbox]] = [:]
        var all: [ConnectionID: Mailbox] = [:]
    }
    private let index = Mutex(Index())

    func watch(_ users: [String], by id: ConnectionID, mailbox: Mailbox) {
        index.withLock { index in
            for user in users { index.byUser[user, default: [:]][id] = mailbox }
        }
    }

    func unwatch(_ users: [String], by id: ConnectionID) {
        index.withLock { index in
            for user in users {
                index.byUser[user]?[id] = nil
                if index.byUser[user]?.isEmpty == true { index.byUser[user] = nil }
            }
        }
    }

    func watchAll(by id: ConnectionID, mailbox: Mailbox) {
        index.withLock { $0.all[id] = mailbox }
    }

    func unwatchAll(by id: ConnectionID) {
        index.withLock { $0.all[id] = nil }
    }

    /// Forgets a socket entirely (it closed).
    func remove(_ id: ConnectionID, watching users: Set<String>) {
        unwatch(Array(users), by: id)
        unwatchAll(by: id)
    }

    /// Users some local socket watches by name.
    var watchedUsers: [String] { index.withLock { Array($0.byUser.keys) } }

    var hasAllFeeds: Bool { index.withLock { !$0.all.isEmpty } }

    /// Whether any local socket watches anyone (or everything).
    var isWatching: Bool { index.withLock { !$0.byUser.isEmpty || !$0.all.isEmpty } }

    /// Hands one hub's batch to the sockets that care, decoded once for all of them.
    func deliver(_ notification: PresenceNotification) {
        let (perUser, all) = index.withLock { index in
            (notification.events.map { index.byUser[$0.userID].map { Array($0.values) } ?? [] }, Array(index.all.values))
        }
        for (transition, mailboxes) in zip(notification.events, perUser) {
            for mailbox in mailboxes { mailbox.yield(.subscriber(.transition(transition))) }
            for mailbox in all { mailbox.yield(.subscriber(.transition(transition))) }
        }
        for event in notification.connections {
            for mailbox in all { mailbox.yield(.subscriber(.connection(event))) }
        }
    }

    /// Presence re-read after a LISTEN outage; each socket keeps only what is newer than it knows.
    func resync(_ presences: [UserPresence]) {
        let (perUser, all) = index.withLock { index in
            (presences.map { index.byUser[$0.userID].map { Array($0.values) } ?? [] }, Array(index.all.values))
        }
        for (presence, mailboxes) in zip(presences, perUser) {
            for mailbox in mailboxes + all { mailbox.yield(.subscriber(.resync(presence))) }
        }
    }
}
