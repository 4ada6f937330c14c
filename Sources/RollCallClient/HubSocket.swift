import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import RollCall
import Synchronization

/// One WebSocket to a RollCall hub, without reconnecting: frames out as `ClientFrame`s, frames in
/// as `ServerFrame`s. The socket answers the hub's pings itself, on its event loop, so a socket
/// that nobody reads for a while is not taken for dead. Frames wait in order until `receive()`.
///
/// `RollCallClient` builds reconnection and resume on top of this; tools that hold thousands of
/// sockets (such as `rollcall load`) use it directly: an idle socket costs no task.
public final class HubSocket: Sendable {
    public struct Options: Sendable {
        public var userAgent: String?
        /// Further request headers, sent as given (e.g. `X-Forwarded-For` behind a test proxy).
        public var headers: [(name: String, value: String)]
        /// The largest frame read from the hub.
        public var maxFrameBytes: Int
        public var connectTimeout: Duration

        public init(
            userAgent: String? = "RollCallClient", headers: [(name: String, value: String)] = [],
            maxFrameBytes: Int = 1 << 20, connectTimeout: Duration = .seconds(10)
        ) {
            self.userAgent = userAgent
            self.headers = headers
            self.maxFrameBytes = maxFrameBytes
            self.connectTimeout = connectTimeout
        }
    }

    private let channel: any Channel
    private let inbox: Inbox

    private init(channel: any Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    /// Opens a socket to `url` (`ws://host:port/v1/ws`, with `?resume=` if wanted) with `token` as
    /// the bearer. Throws `HubSocketError.refused` with the hub's status when the upgrade is refused.
    public static func connect(
        to url: URL, token: String?, options: Options = Options(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> HubSocket {
        guard url.scheme == "ws", let host = url.host, !host.isEmpty else { throw HubSocketError.unsupportedURL(url.absoluteString) }
        let port = url.port ?? 80
        var target = url.path.isEmpty ? "/" : url.path
        if let query = url.query { target += "?\(query)" }

        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let agent = options.userAgent { headers.add(name: "User-Agent", value: agent) }
        for (name, value) in options.headers { headers.add(name: name, value: value) }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: headers)

        let inbox = Inbox()
        let maxFrameBytes = options.maxFrameBytes
        let upgrade = try await ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(options.connectTimeout))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(maxFrameSize: maxFrameBytes) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandlers(
                                NIOWebSocketFrameAggregator(
                                    minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1_024, maxAccumulatedFrameSize: maxFrameBytes),
                                SocketHandler(inbox: inbox))
                            return Upgrade.upgraded(channel)
                        }
                    }
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
                        upgradeRequestHead: head, upgraders: [upgrader]
                    ) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let catcher = RefusalCatcher(promise: channel.eventLoop.makePromise())
                            try channel.pipeline.syncOperations.addHandler(catcher)
                            return Upgrade.refused(catcher.promise.futureResult)
                        }
                    }
                    var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
                    // The hub's welcome may arrive in the same read as its 101: keep those bytes.
                    pipeline.leftOverBytesStrategy = .forwardBytes
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: pipeline)
                }
            }
        switch try await upgrade.get() {
        case .upgraded(let channel):
            return HubSocket(channel: channel, inbox: inbox)
        case .refused(let answer):
            let refusal = try await answer.get()
            throw HubSocketError.refused(status: refusal.status, body: refusal.body)
        }
    }

    /// The connection to `url` as a string; see `connect(to:token:options:group:)`.
    public static func connect(
        to url: String, token: String?, options: Options = Options(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> HubSocket {
        guard let parsed = URL(string: url) else { throw HubSocketError.unsupportedURL(url) }
        return try await connect(to: parsed, token: token, options: options, group: group)
    }

    /// Sends one frame; throws `HubSocketError.closed` once the socket has closed.
    public func send(_ frame: ClientFrame) async throws {
        try await send(text: frame.json())
    }

    /// Sends `text` as one text frame, as it is: for tools and tests that must send what a
    /// well-behaved client would not.
    public func send(text: String) async throws {
        let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text))
        do {
            try await channel.writeAndFlush(frame)
        } catch {
            throw HubSocketError.closed(code: inbox.closeCode)
        }
    }

    /// Sends several text frames as they are, written together and flushed once: as fast as
    /// the socket allows, whatever the scheduling of the caller (for tools and tests).
    public func send(batch texts: [String]) async throws {
        guard let last = texts.last else { return }
        for text in texts.dropLast() {
            channel.write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text)), promise: nil)
        }
        try await send(text: last)
    }

    /// The next frame from the hub as text; nil once the socket has closed and every frame before
    /// the close has been read.
    public func receiveText() async throws -> String? {
        try await inbox.next()
    }

    /// The next frame from the hub; nil once the socket has closed and every frame has been read.
    /// A frame this client cannot read throws `HubSocketError.unreadableFrame`.
    public func receive() async throws -> ServerFrame? {
        guard let text = try await receiveText() else { return nil }
        do {
            return try ServerFrame.decode(text)
        } catch {
            throw HubSocketError.unreadableFrame(text)
        }
    }

    /// The code of the hub's close frame, once one came.
    public var closeCode: UInt16? { inbox.closeCode }

    /// Whether the socket has closed (frames may still wait to be read).
    public var isClosed: Bool { inbox.isClosed }

    /// Closes from this side with `code` and waits until the connection is gone.
    public func close(code: UInt16 = 1000, reason: String = "") async {
        beginClose(code: code, reason: reason)
        try? await channel.closeFuture.get()
    }

    /// Sends the close frame without waiting: the hub answers with its own and ends the
    /// connection; one that does not is cut after a second.
    func beginClose(code: UInt16, reason: String) {
        var data = channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.writeInteger(code)
        data.writeString(reason)
        inbox.closingFromHere()
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
        let channel = channel
        channel.writeAndFlush(frame).whenFailure { _ in channel.close(promise: nil) }
        let deadline = channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
    }

    /// Queues `text` as one frame without waiting for it to be written; a failure shows as the
    /// socket closing.
    func enqueue(text: String) {
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text)), promise: nil)
    }

    /// Cuts the connection without a close frame, as a dropped network would.
    public func drop() async {
        try? await channel.close()
    }

    /// Waits until the connection has ended; returns the code of the hub's close frame, if any.
    @discardableResult
    public func closed() async -> UInt16? {
        try? await channel.closeFuture.get()
        return inbox.closeCode
    }
}

/// Why a socket could not be opened or used.
public enum HubSocketError: Error, Equatable, CustomStringConvertible {
    case unsupportedURL(String)
    /// The hub answered the upgrade with this status (401, 429, 503, ...) and body.
    case refused(status: Int, body: String)
    case closed(code: UInt16?)
    case unreadableFrame(String)

    public var description: String {
        switch self {
        case .unsupportedURL(let url): "not a ws:// URL with a host: \(url)"
        case .refused(let status, let body): "the hub refused the socket with \(status): \(body)"
        case .closed(let code): "the socket is closed" + (code.map { " (close code \($0))" } ?? "")
        case .unreadableFrame(let text): "a frame this client cannot read: \(text.prefix(200))"
        }
    }
}
