import HummingbirdWebSocket
import RollCall
import Synchronization

/// The sockets this hub holds right now, by connection and by user.
final class LiveSockets: Sendable {
    private struct Socket {
        let user: String
        let outbound: WebSocketOutboundWriter
        let mailbox: Mailbox
        let dialect: SocketDialect
    }
    private struct Index {
        var sockets: [ConnectionID: Socket] = [:]
        var byUser: [String: Set<ConnectionID>] = [:]
        var draining = false
    }
    private let index = Mutex(Index())
    /// The connections the server serves and the sessions among them, for the shutdown's log.
    let census = ConnectionCensus()

    func add(_ id: ConnectionID, user: String, outbound: WebSocketOutboundWriter, mailbox: Mailbox, dialect: SocketDialect) {
        index.withLock {
            $0.sockets[id] = Socket(user: user, outbound: outbound, mailbox: mailbox, dialect: dialect)
            $0.byUser[user, default: []].insert(id)
        }
    }

    func remove(_ id: ConnectionID) {
        index.withLock {
            guard let socket = $0.sockets.removeValue(forKey: id) else { return }
            $0.byUser[socket.user]?.remove(id)
            if $0.byUser[socket.user]?.isEmpty == true { $0.byUser[socket.user] = nil }
        }
    }

    var count: Int { index.withLock { $0.sockets.count } }

    /// Whether the hub is closing its sockets because it shuts down.
    var isDraining: Bool { index.withLock { $0.draining } }

    /// Every connection this hub holds.
    var allConnections: [ConnectionID] { index.withLock { Array($0.sockets.keys) } }

    /// Whether any socket of `user` is open here.
    func holds(_ user: String) -> Bool { index.withLock { $0.byUser[user] != nil } }

    /// Hands a message to every local socket of its recipient. Its frame is written once per
    /// dialect, not once per socket: a user's tabs all get the same text.
    func deliver(_ message: UserMessage) {
        let recipients = index.withLock { index in
            (index.byUser[message.to] ?? []).compactMap { index.sockets[$0] }
        }
        guard !recipients.isEmpty else { return }
        let frame = ServerFrame.message(from: message.from, data: message.data, at: message.at)
        var texts: [SocketDialect: String] = [:]
        for socket in recipients {
            guard let text = texts[socket.dialect] ?? socket.dialect.text(for: frame) else { continue }
            texts[socket.dialect] = text
            socket.mailbox.yield(.text(text))
        }
    }

    /// Closes every socket with 1001 (going away); their sessions record `server_shutdown`.
    func drain() async {
        let sockets = index.withLock { index in
            index.draining = true
            return Array(index.sockets.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for socket in sockets {
                group.addTask {
                    // A SignalR client is told first, and that it may reconnect (to another hub).
                    if let last = socket.dialect.closing(code: 1001, reason: "server shutting down") {
                        try? await socket.outbound.write(.text(last))
                    }
                    try? await socket.outbound.close(.goingAway, reason: "server shutting down")
                }
            }
        }
    }

    /// Cuts the connections of the sockets still open; returns how many. For a shutdown whose
    /// close handshakes some peers never answered: they would hold the server open until killed.
    func cutRemaining() -> Int {
        let mailboxes = index.withLock { $0.sockets.values.map(\.mailbox) }
        for mailbox in mailboxes { mailbox.cutConnection() }
        return mailboxes.count
    }
}
