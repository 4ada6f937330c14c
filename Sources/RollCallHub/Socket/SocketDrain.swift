import Logging
import ServiceLifecycle

/// At shutdown, before the HTTP server stops, closes every socket with 1001 and waits (bounded)
/// for their sessions to queue their closes. It runs first at shutdown because HummingbirdWebSocket
/// would otherwise close the sockets itself, with 1000. A peer that does not answer the close
/// within `patience` has its connection cut: the HTTP server waits for every connection to end,
/// and one silent peer would otherwise hold the hub until its shutdown patience ran out.
struct SocketDrain: Service {
    let sockets: LiveSockets
    let logger: Logger
    /// How long sessions get to finish their close handshakes.
    var patience: Duration = .seconds(10)
    /// How long the sessions of cut connections get to queue their closes.
    var afterCut: Duration = .seconds(2)

    func run() async throws {
        try? await gracefulShutdown()
        defer { reportStragglers() }
        let open = sockets.count
        logger.info("closing sockets for shutdown", metadata: ["sockets": "\(open)"])
        await sockets.drain()
        if await allClosed(within: patience) { return }
        let cut = sockets.cutRemaining()
        logger.warning("cut the connections of sockets that did not answer the close", metadata: ["sockets": "\(cut)"])
        _ = await allClosed(within: afterCut)
    }

    /// The HTTP server stops next, and waits for every connection it serves to end. A shutdown
    /// that takes longer than a few seconds says every 5 s how many it is still waiting for, and
    /// how many of those are socket sessions, so a hang shows where it is.
    private func reportStragglers() {
        let census = sockets.census
        let logger = logger
        Task {
            for _ in 0..<12 {
                try? await Task.sleep(for: .seconds(5))
                let served = census.servedConnections
                guard served > 0 else { return }
                logger.notice(
                    "shutdown still waiting for connections to end",
                    metadata: ["connections": "\(served)", "sessions": "\(census.runningSessions)"])
            }
        }
    }

    private func allClosed(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while sockets.count > 0 {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}
