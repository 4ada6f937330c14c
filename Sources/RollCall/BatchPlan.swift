import Foundation

/// What one registry transaction will do, read once from the requests that make up the batch:
/// the writer runs one SQL phase per field. Pure, so the rules that decide what a batch holds are
/// tested without a database.
public struct BatchPlan: Sendable, Equatable {
    /// One request to the writer, as the plan sees it (the writer's requests add who waits for the answer).
    public enum Item: Sendable, Equatable {
        case open(NewConnection)
        case close(ConnectionID, CloseReason)
        /// Every open row of a hub (a restart after a crash, or this hub's shutdown).
        case closeServer(String, CloseReason)
        /// Users whose offline grace has run out on this hub's clock.
        case finishGrace([String])
        case message(UserMessage)
        /// Rows of this hub that a purge closed while their sockets lived on.
        case reopen([ConnectionID])
        /// `requestedAt`: the hub's contact with the database was checked then; a request that
        /// waited too long (behind a batch stuck in an outage) is skipped (see `init`).
        case purge(window: Duration, requestedAt: ContinuousClock.Instant)
        /// A join, state change or leave; `ticket` names its answer in the batch's outcome.
        case room(RoomChange, ticket: Int)

        /// Opens, messages, room changes and purges are answered at once when their batch fails (the caller can
        /// try again); closes, bulk closes, graces and reopens are kept until written.
        public var retriedAfterFailure: Bool {
            switch self {
            case .open, .message, .purge, .room: false
            case .close, .closeServer, .finishGrace, .reopen: true
            }
        }

        /// The request's kind, for logs.
        public var kind: String {
            switch self {
            case .open: "open"
            case .close: "close"
            case .closeServer: "close_server"
            case .finishGrace: "finish_grace"
            case .message: "message"
            case .reopen: "reopen"
            case .purge: "purge"
            case .room(let change, _):
                switch change {
                case .join: "room_join"
                case .setState: "room_state"
                case .leave: "room_leave"
                }
            }
        }
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

    /// A room change and the ticket its answer goes by.
    public struct TicketedChange: Sendable, Equatable {
        public let change: RoomChange
        public let ticket: Int
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
    /// Room changes in the order they were asked for, each with its ticket.
    public var roomChanges: [TicketedChange] = []

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
            case .room(let change, let ticket): roomChanges.append(TicketedChange(change: change, ticket: ticket))
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
