import NIOWebSocket
import RollCall
import Synchronization

/// Everything that reaches one socket goes through its mailbox, so one task writes its frames in order.
enum SessionInput: Sendable {
    /// A frame to send as it is (welcome, pong, ack, error).
    case frame(ServerFrame)
    /// Subscription bookkeeping and presence, filtered by the socket's `SubscriberState`.
    case subscriber(SubscriberState.Input)
    case message(UserMessage)
    /// Text written as it is (a SignalR handshake answer or ping).
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
        case .message(let message): 128 + message.from.utf8.count + RollCallJSON.string(message.data).utf8.count
        case .text(let text): text.utf8.count
        case .close: 0
        }
    }
}

/// A socket's mailbox with a byte budget: what is queued for a socket and not yet written may not
/// pass `budget`. A client that stops reading would otherwise grow the hub without bound; past the
/// budget the mailbox takes nothing more and calls `overflow` once, which ends the socket.
final class Mailbox: Sendable {
    struct Entry: Sendable {
        let input: SessionInput
        let cost: Int
    }

    private let continuation: AsyncStream<Entry>.Continuation
    private let queuedBytes = Atomic<Int>(0)
    private let overflowed = Atomic<Bool>(false)
    let budget: Int
    private let overflow: @Sendable () -> Void

    /// A mailbox and the stream its socket's writer reads.
    static func make(budget: Int, overflow: @escaping @Sendable () -> Void) -> (Mailbox, AsyncStream<Entry>) {
        let (stream, continuation) = AsyncStream<Entry>.makeStream()
        return (Mailbox(continuation: continuation, budget: budget, overflow: overflow), stream)
    }

    private init(continuation: AsyncStream<Entry>.Continuation, budget: Int, overflow: @escaping @Sendable () -> Void) {
        self.continuation = continuation
        self.budget = budget
        self.overflow = overflow
    }

    /// Queues `input`; `cost` overrides the estimate when the caller knows it (a message sent to many sockets).
    func yield(_ input: SessionInput, cost: Int? = nil) {
        guard !overflowed.load(ordering: .relaxed) else { return }
        let cost = cost ?? input.estimatedBytes
        let queued = queuedBytes.add(cost, ordering: .relaxed).newValue
        if queued > budget, !overflowed.exchange(true, ordering: .relaxed) {
            overflow()
            continuation.finish()
            return
        }
        continuation.yield(Entry(input: input, cost: cost))
    }

    /// The writer has sent what `entry` became.
    func written(_ entry: Entry) {
        queuedBytes.subtract(entry.cost, ordering: .relaxed)
    }

    /// Whether the budget was passed (the socket is being closed for it).
    var hasOverflowed: Bool { overflowed.load(ordering: .relaxed) }

    func finish() { continuation.finish() }
}
