import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import RollCall
import Synchronization

/// A socket's mailbox with a byte budget. Whoever yields, every input is turned into frames and
/// written on the socket's event loop, in the order it was yielded: the socket needs no task of
/// its own to write. Inputs yielded before the loop gets to them are taken together, and their
/// frames share one flush (one system call): a batch's acks to one sender, or a notification's
/// messages to one recipient, cost the loop one wake-up and one write. What is queued for a socket
/// and not yet handed to the kernel may not pass `budget`. A client that stops reading would
/// otherwise grow the hub without bound; past the budget the mailbox takes nothing more and calls
/// `overflow` once, which ends the socket.
final class Mailbox: Sendable {
    private let channel: any Channel
    private let outbound: WebSocketOutboundWriter
    private let dialect: SocketDialect
    /// Inputs yielded and not yet taken by the event loop.
    private let inbox = Mutex(Inbox())
    /// Touched only on the socket's event loop; the lock is never contended.
    private let writer = Mutex(Writer())
    private let queuedBytes = Atomic<Int>(0)
    private let overflowed = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    /// Whether anything was yielded that `finish` must wait for: a subscription or a close.
    private let needsFinish = Atomic<Bool>(false)
    let budget: Int
    private let overflow: @Sendable () -> Void

    private struct Inbox {
        var inputs: [SessionInput] = []
        /// Their estimated bytes, which leave the budget once their frames are written.
        var cost = 0
        /// A turn of the loop that takes them is queued already.
        var takeQueued = false
    }

    /// What the event loop keeps between inputs.
    private struct Writer {
        var subscriber = SubscriberState()
        var rooms = RoomFeed()
        /// The close asked for: nothing may follow it.
        var close: (code: WebSocketErrorCode, reason: String)?
    }

    init(channel: any Channel, outbound: WebSocketOutboundWriter, dialect: SocketDialect, budget: Int, overflow: @escaping @Sendable () -> Void) {
        self.channel = channel
        self.outbound = outbound
        self.dialect = dialect
        self.budget = budget
        self.overflow = overflow
    }

    /// Ends the connection at once, without a close handshake: for a peer that never answered one.
    func cutConnection() {
        channel.close(mode: .all, promise: nil)
    }

    /// Queues `input`.
    func yield(_ input: SessionInput) {
        guard !overflowed.load(ordering: .relaxed), !finished.load(ordering: .relaxed) else { return }
        let cost = input.estimatedBytes
        let queued = queuedBytes.add(cost, ordering: .relaxed).newValue
        if queued > budget {
            if !overflowed.exchange(true, ordering: .relaxed) { overflow() }
            return
        }
        switch input {
        case .subscriber, .room, .close: needsFinish.store(true, ordering: .relaxed)
        case .frame, .text: break
        }
        let queueTake = inbox.withLock { inbox in
            inbox.inputs.append(input)
            inbox.cost += cost
            defer { inbox.takeQueued = true }
            return !inbox.takeQueued
        }
        // Always through the loop's queue, never inline: inputs from the loop itself and from
        // elsewhere keep one order.
        if queueTake { channel.eventLoop.execute { self.writeQueued() } }
    }

    /// On the event loop: the frames of every input queued so far, written and flushed together.
    /// Their cost leaves the budget when the last frame has reached the kernel (or the socket has gone).
    private func writeQueued() {
        let (inputs, cost) = inbox.withLock { inbox in
            defer {
                inbox.inputs = []
                inbox.cost = 0
                inbox.takeQueued = false
            }
            return (inbox.inputs, inbox.cost)
        }
        var texts: [String] = []
        var close: (WebSocketErrorCode, String)?
        writer.withLock { writer in
            for input in inputs where writer.close == nil {
                switch input {
                case .frame(let frame): texts += dialect.text(for: frame).map { [$0] } ?? []
                case .subscriber(let input): texts += writer.subscriber.handle(input).compactMap(dialect.text(for:))
                case .room(let input): texts += writer.rooms.handle(input).compactMap(dialect.text(for:))
                case .text(let text): texts.append(text)
                case .close(let code, let reason):
                    texts += dialect.closing(code: Int(UInt16(webSocketErrorCode: code)), reason: reason).map { [$0] } ?? []
                    close = (code, reason)
                    writer.close = (code, reason)
                }
            }
        }
        var last: EventLoopFuture<Void>?
        for text in texts {
            let frame = WebSocketFrame(fin: true, opcode: .text, data: channel.allocator.buffer(string: text))
            last = channel.write(frame)
        }
        if let last {
            channel.flush()
            last.whenComplete { _ in self.queuedBytes.subtract(cost, ordering: .relaxed) }
        } else {
            queuedBytes.subtract(cost, ordering: .relaxed)
        }
        if let (code, reason) = close {
            // The WebSocket library runs the closing handshake; what was written above goes first.
            let outbound = outbound
            Task { try? await outbound.close(code, reason: reason) }
        }
    }

    /// Whether the budget was passed (the socket is being closed for it).
    var hasOverflowed: Bool { overflowed.load(ordering: .relaxed) }

    /// Takes nothing more; waits until what was yielded before is written and a close asked for
    /// has gone out. Returns the users the socket watched, so the hub's index can forget them.
    func finish() async -> Set<String> {
        finished.store(true, ordering: .relaxed)
        // Most sockets never subscribe and are not closed by the hub: nothing to wait for.
        guard needsFinish.load(ordering: .relaxed) else { return [] }
        let last = try? await channel.eventLoop.submit { self.writer.withLock { ($0.subscriber.watchedUsers, $0.close) } }.get()
        // The session ends when this returns, and the WebSocket library then closes with 1000:
        // the close asked for must be out first (a second close is ignored).
        if let close = last?.1 { try? await outbound.close(close.code, reason: close.reason) }
        return last?.0 ?? []
    }
}
