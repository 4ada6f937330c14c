import Foundation
import RollCall
import Synchronization

/// A client that stays connected: it reconnects with jittered backoff, resumes the connection that
/// dropped (so a short network loss makes no presence flap for watchers), asks for a fresh token on
/// every attempt, and subscribes again to what it watched.
///
/// ```swift
/// let client = RollCallClient(url: URL(string: "ws://127.0.0.1:8080/v1/ws")!) { try await fetchToken() }
/// try await withThrowingTaskGroup(of: Void.self) { group in
///     group.addTask { try await client.run() }
///     for await event in client.events {
///         if case .connected = event { _ = try await client.subscribe(["bob"]) }
///         if case .frame(.presence(let change)) = event { print(change.userID, change.online) }
///     }
/// }
/// ```
public final class RollCallClient: Sendable {
    public enum Event: Sendable, Equatable {
        /// A socket was welcomed; `resumed` when it replaced the one that dropped.
        case connected(connectionID: ConnectionID, serverID: String, resumed: Bool)
        /// A frame that answers none of this client's requests: presence, connection events,
        /// messages, and the snapshot of a subscription renewed after a reconnect.
        case frame(ServerFrame)
        /// The socket ended (with the hub's close code, if it sent one); the next attempt is in `retryIn`.
        case disconnected(closeCode: UInt16?, retryIn: Duration)
    }

    public let url: URL
    public let events: AsyncStream<Event>
    private let token: @Sendable () async throws -> String
    private let options: HubSocket.Options
    private let backoff: Backoff
    private let output: AsyncStream<Event>.Continuation
    private let state = Mutex(State())

    private struct State {
        var socket: HubSocket?
        var lastConnection: ConnectionID?
        var watched: Set<String> = []
        var watchesAll = false
        var pending: [RequestID: CheckedContinuation<ServerFrame, any Error>] = [:]
        var nextRequest: Int64 = 1
        var stopped = false
    }

    /// - Parameters:
    ///   - url: the hub's socket endpoint, `ws://host:port/v1/ws`.
    ///   - backoff: pauses between attempts; each is jittered to between half and all of it.
    ///   - token: called before every attempt, so an expired token is replaced.
    public init(
        url: URL, options: HubSocket.Options = HubSocket.Options(),
        backoff: Backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(10)),
        token: @escaping @Sendable () async throws -> String
    ) {
        self.url = url
        self.options = options
        self.backoff = backoff
        self.token = token
        (events, output) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Connects and stays connected until `close()` or cancellation; then `events` ends. Throws
    /// only when the hub refuses the token itself (401 or 403): trying again would not help.
    public func run() async throws {
        defer {
            output.finish()
            failPending(HubSocketError.closed(code: nil))
        }
        var failures = 0
        while !isStopped, !Task.isCancelled {
            var closeCode: UInt16?
            do {
                let socket = try await HubSocket.connect(to: attemptURL(), token: try await token(), options: options)
                guard case .welcome(let id, _, let server, _, let resumed)? = try await socket.receive() else {
                    await socket.close()
                    throw HubSocketError.closed(code: socket.closeCode)
                }
                failures = 0
                guard install(socket, connection: id) else {
                    await socket.close()
                    break
                }
                output.yield(.connected(connectionID: id, serverID: server, resumed: resumed))
                try await renewSubscriptions(on: socket)
                try await withTaskCancellationHandler {
                    while let frame = try await socket.receive() { dispatch(frame) }
                } onCancel: {
                    socket.beginClose(code: 1001, reason: "client going away")
                }
                closeCode = socket.closeCode
            } catch HubSocketError.refused(let status, let body) where status == 401 || status == 403 {
                throw HubSocketError.refused(status: status, body: body)
            } catch {
                closeCode = state.withLock { $0.socket?.closeCode }
            }
            uninstall()
            if isStopped || Task.isCancelled { break }
            failures += 1
            let pause = backoff.delay(afterFailures: failures) * Double.random(in: 0.5...1.0)
            output.yield(.disconnected(closeCode: closeCode, retryIn: pause))
            try? await Task.sleep(for: pause)
        }
    }

    /// Watches `users` (now and after every reconnect); returns their presence now.
    public func subscribe(_ users: [String]) async throws -> [UserPresence] {
        state.withLock { $0.watched.formUnion(users) }
        let answer = try await request { .subscribe(id: $0, target: .users(users)) }
        guard case .snapshot(_, let presence) = answer else { throw RollCallClientError.unexpected(answer) }
        return presence
    }

    /// Watches every connection of every hub (admin tokens only); returns who is online now.
    public func subscribeAll() async throws -> [UserPresence] {
        state.withLock { $0.watchesAll = true }
        let answer = try await request { .subscribe(id: $0, target: .all) }
        guard case .snapshot(_, let presence) = answer else { throw RollCallClientError.unexpected(answer) }
        return presence
    }

    public func unsubscribe(_ users: [String]) async throws {
        state.withLock { $0.watched.subtract(users) }
        _ = try await request { .unsubscribe(id: $0, target: .users(users)) }
    }

    /// Sends `data` to every socket of `user`; returns once the hub has taken it (`ack`).
    public func send(_ data: JSONValue, to user: String) async throws {
        let answer = try await request { .send(id: $0, to: user, data: data) }
        guard case .ack = answer else { throw RollCallClientError.unexpected(answer) }
    }

    /// Sends a frame as text, as it is, on the current socket (for terminal clients and tools);
    /// its answer comes as an `.frame` event.
    public func send(text: String) async throws {
        guard let socket = state.withLock({ $0.socket }) else { throw HubSocketError.closed(code: nil) }
        try await socket.send(text: text)
    }

    /// Closes the socket with 1000 and stops reconnecting; `run()` returns.
    public func close() async {
        let socket = state.withLock { state in
            state.stopped = true
            return state.socket
        }
        await socket?.close(code: 1000, reason: "client closed")
    }

    /// Cuts the current connection without a close frame, as a lost network would (for tests).
    func dropConnection() async {
        await state.withLock { $0.socket }?.drop()
    }

    // MARK: - Running

    private var isStopped: Bool { state.withLock { $0.stopped } }

    private func attemptURL() -> URL {
        guard let last = state.withLock({ $0.lastConnection }),
            var parts = URLComponents(url: url, resolvingAgainstBaseURL: false)
        else { return url }
        parts.queryItems = (parts.queryItems ?? []).filter { $0.name != "resume" } + [URLQueryItem(name: "resume", value: last.description)]
        return parts.url ?? url
    }

    private func install(_ socket: HubSocket, connection: ConnectionID) -> Bool {
        state.withLock { state in
            guard !state.stopped else { return false }
            state.socket = socket
            state.lastConnection = connection
            return true
        }
    }

    private func uninstall() {
        state.withLock { $0.socket = nil }
        failPending(HubSocketError.closed(code: nil))
    }

    private func failPending(_ error: any Error) {
        let waiting = state.withLock { state in
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
        for continuation in waiting { continuation.resume(throwing: error) }
    }

    /// After a reconnect, what was watched is watched again; the snapshots come as events.
    private func renewSubscriptions(on socket: HubSocket) async throws {
        let (users, all) = state.withLock { ($0.watched, $0.watchesAll) }
        if all { try await socket.send(.subscribe(id: nil, target: .all)) }
        if !users.isEmpty { try await socket.send(.subscribe(id: nil, target: .users(users.sorted()))) }
    }

    private func dispatch(_ frame: ServerFrame) {
        let id = frame.answering
        let waiting = id.flatMap { id in state.withLock { $0.pending.removeValue(forKey: id) } }
        guard let waiting else {
            output.yield(.frame(frame))
            return
        }
        if case .error(_, let code, let message) = frame {
            waiting.resume(throwing: RollCallClientError.refused(code: code, message: message))
        } else {
            waiting.resume(returning: frame)
        }
    }

    private func request(_ frame: (RequestID) -> ClientFrame) async throws -> ServerFrame {
        let (id, socket) = state.withLock { state -> (RequestID, HubSocket?) in
            defer { state.nextRequest += 1 }
            return (.string("c\(state.nextRequest)"), state.socket)
        }
        guard let socket else { throw HubSocketError.closed(code: nil) }
        let text = frame(id).json()
        return try await withCheckedThrowingContinuation { continuation in
            // Registered only while the socket is still the current one: once it is uninstalled,
            // every waiting request is failed, so none can wait for an answer that cannot come.
            let registered = state.withLock { state in
                guard state.socket === socket else { return false }
                state.pending[id] = continuation
                return true
            }
            if registered {
                socket.enqueue(text: text)
            } else {
                continuation.resume(throwing: HubSocketError.closed(code: nil))
            }
        }
    }
}

public enum RollCallClientError: Error, Equatable, CustomStringConvertible {
    /// The hub answered the request with an `error` frame.
    case refused(code: ErrorCode, message: String)
    case unexpected(ServerFrame)

    public var description: String {
        switch self {
        case .refused(let code, let message): "refused (\(code.rawValue)): \(message)"
        case .unexpected(let frame): "unexpected answer: \(frame.json())"
        }
    }
}
