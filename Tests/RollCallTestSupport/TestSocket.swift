import Foundation
import RollCall
import RollCallClient

/// A socket for tests: `RollCallClient`'s `HubSocket` with deadlines on every wait, frames in as
/// typed `ServerFrame`s and frames out as text (so a test can send what no client would).
public struct TestSocket: Sendable {
    public let socket: HubSocket

    /// Connects; throws `HubSocketError.refused` if the upgrade is refused.
    public static func open(
        url: String, token: String, userAgent: String = "rollcall-tests", headers: [String: String] = [:], maxFrameSize: Int = 1 << 20
    ) async throws -> TestSocket {
        let options = HubSocket.Options(
            userAgent: userAgent, headers: headers.map { (name: $0.key, value: $0.value) }, maxFrameBytes: maxFrameSize)
        return TestSocket(socket: try await HubSocket.connect(to: url, token: token, options: options))
    }

    /// The next frame from the hub; nil once the socket has closed.
    public func nextOrNil(timeout: Duration = .seconds(20)) async throws -> ServerFrame? {
        try await withThrowingTaskGroup(of: ServerFrame??.self) { group in
            group.addTask { try await socket.receive() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return .none
            }
            // Whichever ends first, wait for both: a frame that came as the deadline passed was
            // taken from the socket and must be returned, not dropped.
            var received: ServerFrame?? = .none
            while let result = await group.nextResult() {
                group.cancelAll()
                switch result {
                case .success(.some(let frame)): received = frame
                case .success(.none): break
                case .failure(is CancellationError): break
                case .failure(let error): throw error
                }
            }
            guard let received else { throw TimedOut(what: "a frame") }
            return received
        }
    }

    /// The next frame; fails if the socket closed instead.
    public func next(timeout: Duration = .seconds(20)) async throws -> ServerFrame {
        guard let frame = try await nextOrNil(timeout: timeout) else { throw TimedOut(what: "a frame (the socket closed)") }
        return frame
    }

    public func send(_ text: String) async throws {
        try await socket.send(text: text)
    }

    public func send(_ frame: ClientFrame) async throws {
        try await socket.send(frame)
    }

    /// Frames written at once, however busy the test process is (a flood must be a flood).
    public func send(batch texts: [String]) async throws {
        try await socket.send(batch: texts)
    }

    public func send(bytes count: Int) async throws {
        try await socket.send(text: String(repeating: "x", count: count))
    }

    /// Frames received until one satisfies `stop` (which is consumed and returned last).
    public func frames(until stop: (ServerFrame) -> Bool, timeout: Duration = .seconds(20)) async throws -> [ServerFrame] {
        var frames: [ServerFrame] = []
        while true {
            let frame = try await next(timeout: timeout)
            frames.append(frame)
            if stop(frame) { return frames }
        }
    }

    /// Sends `ping` and waits for the matching `pong`: proof the socket still works.
    public func roundTrip(id: String = UUID().uuidString) async throws -> Bool {
        try await send(.ping(id: .string(id)))
        while let frame = try await nextOrNil() {
            if case .pong(.string(id)?) = frame { return true }
        }
        return false
    }

    /// Closes from the client side with 1000 and waits for the socket to end.
    public func close() async throws {
        await socket.close(code: 1000, reason: "bye")
    }

    /// Waits until the hub has closed the socket; returns the close code it sent.
    @discardableResult
    public func waitUntilClosed(timeout: Duration = .seconds(20)) async throws -> UInt16? {
        try await withThrowingTaskGroup(of: UInt16?.self) { group in
            group.addTask { await socket.closed() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TimedOut(what: "the socket to close")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}

/// What tests ask of a frame, without a `switch` each time.
extension ServerFrame {
    /// The frame's `type` on the wire.
    public var type: String { kind.rawValue }

    /// The `id` this frame answers, if any.
    public var requestID: RequestID? { answering }

    /// Whether this is a presence event about `user`.
    public func isPresence(of user: String) -> Bool {
        transition?.userID == user
    }

    public var roomEvent: RoomEvent? {
        if case .roomEvent(let event) = self { event } else { nil }
    }

    public var roomSnapshot: RoomSnapshot? {
        if case .room(_, let snapshot) = self { snapshot } else { nil }
    }

    public var transition: PresenceTransition? {
        if case .presence(let transition) = self { transition } else { nil }
    }

    public var snapshotUsers: [UserPresence]? {
        if case .snapshot(_, let users) = self { users } else { nil }
    }

    public var errorCode: ErrorCode? {
        if case .error(_, let code, _) = self { code } else { nil }
    }

    /// An error frame's message.
    public var errorMessage: String? {
        if case .error(_, _, let message) = self { message } else { nil }
    }

    public var accepted: Bool? {
        if case .ack(_, let accepted) = self { accepted } else { nil }
    }

    public var connectionEvent: ConnectionEvent? {
        if case .connection(let event) = self { event } else { nil }
    }

    /// A message's sender and data.
    public var delivered: (from: String, data: JSONValue)? {
        if case .message(let from, let data, _) = self { (from, data) } else { nil }
    }

    public var welcomed: (connectionID: ConnectionID, userID: String, serverID: String, resumed: Bool)? {
        if case .welcome(let connection, let user, let server, _, let resumed) = self { (connection, user, server, resumed) } else { nil }
    }
}

extension [ServerFrame] {
    /// The presence events among these frames, in order.
    public var transitions: [PresenceTransition] { compactMap(\.transition) }

    /// The presence events among these frames, in order, as (user, online).
    public var presenceEvents: [(user: String, online: Bool)] {
        compactMap(\.transition).map { ($0.userID, $0.online) }
    }
}
