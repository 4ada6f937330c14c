import Logging
import ServiceLifecycle

/// At shutdown, before the HTTP server stops, closes every socket with 1001 and waits (bounded)
/// for their sessions to queue their closes. It runs first at shutdown because HummingbirdWebSocket
/// would otherwise close the sockets itself, with 1000.
struct SocketDrain: Service {
    let sockets: LiveSockets
    let logger: Logger
    /// How long sessions get to finish their close handshakes.
    var patience: Duration = .seconds(10)

    func run() async throws {
        try? await gracefulShutdown()
        let open = sockets.count
        logger.info("closing sockets for shutdown", metadata: ["sockets": "\(open)"])
        await sockets.drain()
        let deadline = ContinuousClock.now + patience
        while sockets.count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
