import NIOWebSocket
import RollCall

/// Everything that reaches one socket goes through its mailbox, so one task writes its frames in order.
enum SessionInput: Sendable {
    /// A frame to send as it is (welcome, pong, ack, error).
    case frame(ServerFrame)
    /// Subscription bookkeeping and presence, filtered by the socket's `SubscriberState`.
    case subscriber(SubscriberState.Input)
    case message(UserMessage)
    /// Close the socket after what is already in the mailbox has been written.
    case close(WebSocketErrorCode, reason: String)
}

typealias Mailbox = AsyncStream<SessionInput>.Continuation
