import Foundation

/// What one registry transaction will do, read once from the requests that make up the batch:
/// the writer runs one SQL phase per field. Pure, so the rules that decide what a batch holds are
/// tested without a database.
public struct BatchPlan: Sendable, Equatable {
    /// One request as the plan sees it (the writer's requests carry their waiting callers too).
    public enum Item: Sendable, Equatable {
        case open(NewConnection)
        case close(ConnectionID, CloseReason)
        case closeServer(String, CloseReason)
        case finishGrace([String])
        case message(UserMessage)
        case reopen([ConnectionID])
        case purge(window: Duration, requestedAt: ContinuousClock.Instant)
    }

    /// A bulk close of one hub's rows, by reason: the key its count is reported under.
    public struct ServerClose: Sendable, Hashable {
        public let server: String
        public let reason: CloseReason

        public init(server: String, reason: CloseReason) {
            self.server = server
            self.reason = reason
        }
    }

    public struct Close: Sendable, Equatable {
        public let id: ConnectionID
        public let reason: CloseReason
    }

    public var opens: [NewConnection] = []
    public var closes: [Close] = []
    public var serverCloses: [ServerClose] = []
    /// Rows a purge closed while their sockets lived on, minus any that closes in this batch:
    /// a close always wins over a reopen, whichever came first.
    public var reopens: [ConnectionID] = []
    /// The purge to run, if one was asked for recently enough (the smallest window wins).
    public var purgeWindow: Duration?
    /// Users whose offline grace ran out on this hub's clock, each once, sorted.
    public var graceDue: [String] = []
    public var messages: [UserMessage] = []

    /// `purgeFreshness`: a purge request older than this, or than a quarter of its window if that
    /// is longer, sat in the queue (or waited for a connection) through an outage, and would judge
    /// hubs dead that are only coming back; it is skipped, and the next pass asks again. A quarter
    /// of the window is the default purge interval: a wait that long is a pass missed, while a
    /// loaded machine's first connection (a second or more) is not.
    public init(_ items: [Item], now: ContinuousClock.Instant, purgeFreshness: Duration) {
        var reopenAsked: [ConnectionID] = []
        var graceUsers: Set<String> = []
        for item in items {
            switch item {
            case .open(let connection): opens.append(connection)
            case .close(let id, let reason): closes.append(Close(id: id, reason: reason))
            case .closeServer(let server, let reason): serverCloses.append(ServerClose(server: server, reason: reason))
            case .finishGrace(let users): graceUsers.formUnion(users)
            case .message(let message): messages.append(message)
            case .reopen(let ids): reopenAsked += ids
            case .purge(let window, let requestedAt):
                guard now - requestedAt < max(purgeFreshness, window / 4) else { continue }
                purgeWindow = purgeWindow.map { min($0, window) } ?? window
            }
        }
        let closing = Set(closes.map(\.id))
        reopens = reopenAsked.filter { !closing.contains($0) }
        graceDue = graceUsers.sorted()
    }
}
