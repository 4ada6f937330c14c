import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// A WebSocket client for tests: frames in as JSON objects, frames out as text.
public final class TestSocket: Sendable {
    private struct State {
        var frames: [String] = []
        var closed = false
        var closeFrame: WebSocketCloseFrame?
        var outbound: WebSocketOutboundWriter?
        var openFailure: (any Error)?
    }
    private let state = Mutex(State())

    private init() {}

    /// Connects; throws if the upgrade is refused.
    public static func open(
        url: String, token: String, userAgent: String = "rollcall-tests", headers: [String: String] = [:], maxFrameSize: Int = 1 << 20
    ) async throws -> TestSocket {
        let socket = TestSocket()
        var fields: HTTPFields = [.authorization: "Bearer \(token)", .userAgent: userAgent]
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        Task {
            do {
                let frame = try await WebSocketClient.connect(
                    url: url,
                    configuration: .init(
                        maxFrameSize: maxFrameSize,
                        additionalHeaders: fields),
                    logger: testLogger
                ) { inbound, outbound, _ in
                    socket.state.withLock { $0.outbound = outbound }
                    for try await message in inbound.messages(maxSize: maxFrameSize) {
                        if case .text(let text) = message { socket.state.withLock { $0.frames.append(text) } }
                    }
                }
                socket.state.withLock {
                    $0.closeFrame = frame
                    $0.closed = true
                }
            } catch {
                socket.state.withLock {
                    $0.openFailure = error
                    $0.closed = true
                }
            }
        }
        try await eventually(timeout: .seconds(20), "socket to open") {
            try socket.state.withLock { state in
                if let failure = state.openFailure { throw failure }
                return state.outbound != nil || state.closed
            }
        }
        return socket
    }

    /// The next frame from the hub as a JSON object; nil once the socket has closed.
    public func nextOrNil(timeout: Duration = .seconds(20)) async throws -> [String: Any]? {
        var text: String?
        var ended = false
        try await eventually(timeout: timeout, "a frame") {
            state.withLock { state in
                if !state.frames.isEmpty {
                    text = state.frames.removeFirst()
                    return true
                }
                ended = state.closed
                return ended
            }
        }
        guard let text else { return nil }
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    /// The next frame; fails if the socket closed instead.
    public func next(timeout: Duration = .seconds(20)) async throws -> [String: Any] {
        guard let frame = try await nextOrNil(timeout: timeout) else { throw TimedOut(what: "a frame (the socket closed)") }
        return frame
    }

    public func send(_ text: String) async throws {
        guard let outbound = state.withLock({ $0.outbound }) else { throw TimedOut(what: "an open socket") }
        try await outbound.write(.text(text))
    }

    public func send(bytes count: Int) async throws {
        guard let outbound = state.withLock({ $0.outbound }) else { throw TimedOut(what: "an open socket") }
        try await outbound.write(.text(String(repeating: "x", count: count)))
    }

    /// Frames received until one satisfies `stop` (which is consumed and returned last).
    public func frames(until stop: ([String: Any]) -> Bool, timeout: Duration = .seconds(20)) async throws -> [[String: Any]] {
        var frames: [[String: Any]] = []
        while true {
            let frame = try await next(timeout: timeout)
            frames.append(frame)
            if stop(frame) { return frames }
        }
    }

    /// Sends `ping` and waits for the matching `pong`: proof the socket still works.
    public func roundTrip(id: String = UUID().uuidString) async throws -> Bool {
        try await send(#"{"type":"ping","id":"\#(id)"}"#)
        while let frame = try await nextOrNil() {
            if frame["type"] as? String == "pong", frame["id"] as? String == id { return true }
        }
        return false
    }

    /// Closes from the client side with 1000 and waits for the socket to end.
    public func close() async throws {
        if let outbound = state.withLock({ $0.outbound }) {
            try? await outbound.close(.normalClosure, reason: "bye")
        }
        try await waitUntilClosed()
    }

    /// Waits until the hub has closed the socket; returns the close code it sent.
    @discardableResult
    public func waitUntilClosed(timeout: Duration = .seconds(20)) async throws -> UInt16? {
        try await eventually(timeout: timeout, "socket to close") { state.withLock { $0.closed } }
        return state.withLock { $0.closeFrame.map { UInt16(webSocketErrorCode: $0.closeCode) } }
    }
}

