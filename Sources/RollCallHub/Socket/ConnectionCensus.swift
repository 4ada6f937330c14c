import Synchronization

/// How many connections the HTTP server is still serving, and how many of them are socket
/// sessions. The server's shutdown waits for every connection it serves to end; when one does
/// not, these counts in the shutdown's log say whether a socket session or something else
/// (a handshake, an HTTP exchange, the library's closing handshake) holds it.
final class ConnectionCensus: Sendable {
    private let connections = Atomic<Int>(0)
    private let sessions = Atomic<Int>(0)

    func connectionBegins() { connections.add(1, ordering: .relaxed) }
    func connectionEnds() { connections.subtract(1, ordering: .relaxed) }
    func sessionBegins() { sessions.add(1, ordering: .relaxed) }
    func sessionEnds() { sessions.subtract(1, ordering: .relaxed) }

    var servedConnections: Int { connections.load(ordering: .relaxed) }
    var runningSessions: Int { sessions.load(ordering: .relaxed) }
}
