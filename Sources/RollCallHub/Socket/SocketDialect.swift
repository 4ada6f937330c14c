import RollCall

/// The language a socket speaks: RollCall's own frames (`/v1/ws`) or the SignalR JSON hub
/// protocol (`/hubs/presence`). Either way a socket is the same row, the same presence and the
/// same `FrameHandler`; only reading and writing differ.
enum SocketDialect: Sendable {
    case rollcall
    case signalR

    /// A frame as this dialect writes it; nil when it has no form here.
    func text(for frame: ServerFrame) -> String? {
        switch self {
        case .rollcall: frame.json()
        case .signalR: SignalR.text(for: frame)
        }
    }

    /// What goes out just before the hub closes the socket itself.
    func closing(code: Int, reason: String) -> String? {
        switch self {
        case .rollcall: nil
        // A client told it may reconnect does so: after a token expiry or a shutdown.
        case .signalR: SignalR.close(error: reason, allowReconnect: code == WebSocketSession.tokenExpiredCode || code == 1001)
        }
    }
}
