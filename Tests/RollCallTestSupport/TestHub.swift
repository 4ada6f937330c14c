import Foundation
import Hummingbird
import Logging
import RollCall
import RollCallHub
import RollCallPostgres
import ServiceLifecycle

/// A hub built by `HubApplication.build`, exactly as `rollcall serve` builds it, on a free port.
public struct TestHub: Sendable {
    public let port: Int
    public let configuration: HubConfiguration
    public let database: DatabaseLocation
    /// Every route the hub answers, as `GET /v1/users/{id}`.
    public let routes: [String]
    let authority: TokenAuthority

    public static let secret = "test-secret-that-is-long-enough-for-hs256"

    /// The headers of a WebSocket handshake, for requests sent with `get`.
    public static let upgradeHeaders = [
        "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
    ]

    public static func configuration(serverID: String = "hub-\(UUID().uuidString.prefix(8))") -> HubConfiguration {
        // Grace zero: tests of the hub core see offline at once; grace tests set their own.
        HubConfiguration(host: "127.0.0.1", port: 0, serverID: serverID, jwtSecret: secret, offlineGrace: .zero)
    }

    /// Runs a hub while `body` runs, then shuts it down gracefully.
    public static func run<T: Sendable>(
        _ configuration: HubConfiguration? = nil,
        database: DatabaseLocation,
        _ body: @Sendable (TestHub) async throws -> T
    ) async throws -> T {
        let configuration = configuration ?? Self.configuration()
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = try await HubApplication.build(configuration: configuration, database: database, logger: testLogger) { port in
            portContinuation.yield(port)
        }
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: testLogger)
        let authority = try await TokenAuthority(secret: configuration.jwtSecret)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw TimedOut(what: "hub to listen") }
            let hub = TestHub(port: port, configuration: configuration, database: database, routes: app.routes, authority: authority)
            do {
                let result = try await body(hub)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    public var webSocketURL: String { "ws://127.0.0.1:\(port)/v1/ws" }

    public func token(
        _ user: String, admin: Bool = false, watch: Set<String>? = nil, rooms: [String]? = nil, lifetime: Duration = .seconds(600)
    ) async throws -> String {
        try await authority.mint(Identity(userID: user, isAdmin: admin, watchable: watch, rooms: rooms), lifetime: lifetime)
    }

    /// Opens a socket as `user` and waits for its welcome.
    public func connect(_ user: String, userAgent: String = "rollcall-tests", admin: Bool = false) async throws -> TestSocket {
        try await connectWelcomed(user, userAgent: userAgent, admin: admin).socket
    }

    /// Opens a socket and returns it with its welcome frame; `resume` names a connection to resume.
    public func connectWelcomed(
        _ user: String, userAgent: String = "rollcall-tests", admin: Bool = false, resume: String? = nil
    ) async throws -> (socket: TestSocket, welcome: ServerFrame) {
        let url = webSocketURL + (resume.map { "?resume=\($0)" } ?? "")
        let socket = try await TestSocket.open(url: url, token: try await token(user, admin: admin), userAgent: userAgent)
        let welcome = try await socket.next()
        guard case .welcome = welcome else { throw UnexpectedFrame(frame: welcome) }
        return (socket, welcome)
    }

    /// A socket of `watcher` subscribed to `users`, past its snapshot (returned too).
    public func watch(_ users: [String], as watcher: String = "watcher") async throws -> (socket: TestSocket, snapshot: [UserPresence]) {
        let socket = try await connect(watcher)
        try await socket.send(.subscribe(id: .string("w"), target: .users(users)))
        let snapshot = try await socket.next()
        guard let presence = snapshot.snapshotUsers else { throw UnexpectedFrame(frame: snapshot) }
        return (socket, presence)
    }

    /// An HTTP POST of a JSON body; returns status and body.
    public func post(_ path: String, token: String?, body: String) async throws -> (status: Int, body: String) {
        try await HTTP.request(port: port, method: "POST", path: path, token: token, headers: [:], body: body)
    }

    /// Raw bytes in, everything the hub answers out, until it closes the connection.
    public func exchange(_ request: String) async throws -> String {
        try await HTTP.exchange(port: port, request: request)
    }

    /// An HTTP GET as a client would make it; returns status and body.
    public func get(_ path: String, token: String? = nil, headers: [String: String] = [:]) async throws -> (status: Int, body: String) {
        try await HTTP.request(port: port, method: "GET", path: path, token: token, headers: headers)
    }
}

public struct UnexpectedFrame: Error, CustomStringConvertible {
    public let description: String
    public init(frame: ServerFrame) { description = "unexpected frame: \(frame.json())" }
}

extension TestHub {
    /// A hub named `name` for multi-hub tests: its own offline grace, and no open limits (the
    /// flap tests reconnect one user hundreds of times a second on purpose).
    public static func flapping(_ name: String, grace: Duration = .milliseconds(400)) -> HubConfiguration {
        var configuration = TestHub.configuration(serverID: name)
        configuration.offlineGrace = grace
        configuration.openLimits = .none
        return configuration
    }

    /// Runs hubs a, b and c on `database`, as behind a load balancer.
    public static func three<T: Sendable>(
        _ database: DatabaseLocation, grace: Duration = .milliseconds(400),
        _ body: @Sendable (TestHub, TestHub, TestHub) async throws -> T
    ) async throws -> T {
        try await run(flapping("hub-a", grace: grace), database: database) { a in
            try await run(flapping("hub-b", grace: grace), database: database) { b in
                try await run(flapping("hub-c", grace: grace), database: database) { c in
                    try await body(a, b, c)
                }
            }
        }
    }
}
