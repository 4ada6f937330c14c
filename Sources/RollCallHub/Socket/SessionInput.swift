import NIOWebSocket
import RollCall

/// Everything that reaches one socket goes through its mailbox, which writes its frames in order.
enum SessionInput: Sendable {
    /// A frame to send as it is (welcome, pong, ack, error).
    case frame(ServerFrame)
    /// Subscription bookkeeping and presence, filtered by the socket's `SubscriberState`.
    case subscriber(SubscriberState.Input)
    /// Rooms: joins, snapshots and events, filtered by the socket's `RoomFeed`.
    case room(RoomFeed.Input)
    /// Text written as it is (a message's frame, a SignalR handshake answer or ping).
    case text(String)
    /// Close the socket after what is already in the mailbox has been written.
    case close(WebSocketErrorCode, reason: String)

    /// About how many bytes this input becomes on the wire: what it costs the socket's budget.
    /// An estimate from sizes at hand, so that nothing is encoded twice to be measured.
    var estimatedBytes: Int {
        switch self {
        case .frame(.error(_, _, let message)): 96 + message.utf8.count
        case .frame(.snapshot(_, let users)), .subscriber(.snapshot(_, let users)), .subscriber(.snapshotAll(_, let users)):
            64 + users.reduce(0) { $0 + 160 + $1.userID.utf8.count }
        case .frame: 256
        case .subscriber(.transition(let transition)): 160 + transition.userID.utf8.count
        case .subscriber(.resync(let presence)): 160 + presence.userID.utf8.count
        case .subscriber(.connection(let event)): 320 + event.userID.utf8.count + (event.userAgent?.utf8.count ?? 0)
        case .subscriber: 0
        case .room(.joined(_, let snapshot)):
            64 + snapshot.members.reduce(0) { $0 + 160 + $1.userID.utf8.count + $1.state.json.utf8.count }
        case .room(.event(let event)): 256 + event.userID.utf8.count + event.room.utf8.count + event.state.json.utf8.count
        case .room: 0
        case .text(let text): text.utf8.count
        case .close: 0
        }
    }
}
