import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import RollCall

/// Decides, before any upgrade, whether a WebSocket handshake may proceed; a refusal carries
/// the HTTP status and JSON error the client gets. It runs on the connection's event loop and
/// must not block: a token check, a look at the database's health, the open limits.
typealias UpgradeAdmission = @Sendable (HTTPRequestHead, any Channel) -> APIError?

/// HummingbirdWebSocket answers every refused upgrade with a bare 400. This handler sits in front
/// of the upgrade handler and decides first: an admitted handshake passes untouched (and the
/// handler removes itself); a refused one is answered here, with the refusal's status and JSON
/// error body, and the connection closed. The refusal never travels in anything a client can
/// write, and nothing of a refused request reaches the router.
final class UpgradeGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let admission: UpgradeAdmission
    /// A refusal was answered: whatever else the client sends is dropped until the close.
    private var refused = false
    /// A whole request head has come through: from then on the server's own handlers answer its
    /// shutdown.
    private var requestSeen = false

    init(admission: @escaping UpgradeAdmission) {
        self.admission = admission
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }
        let part = unwrapInboundIn(data)
        if case .head = part { requestSeen = true }
        guard case .head(let head) = part, Self.isWebSocketUpgrade(head) else {
            context.fireChannelRead(data)
            return
        }
        if let refusal = admission(head, context.channel) {
            refused = true
            answer(refusal, version: head.version, context: context)
            return
        }
        context.fireChannelRead(data)
        // Past the handshake the channel carries WebSocket frames, which this handler must not see.
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }

    /// Writes `refusal` as the whole response, then closes the connection.
    private func answer(_ refusal: APIError, version: HTTPVersion, context: ChannelHandlerContext) {
        let body = refusal.body
        let headers = HTTPHeaders([
            ("content-type", "application/json; charset=utf-8"), ("content-length", "\(body.readableBytes)"), ("connection", "close"),
        ])
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: refusal.status.code), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }

    /// The server is shutting down. A connection that has not sent a whole request head yet has
    /// asked for nothing, and the HTTP server would wait for it to end: until its client gave up,
    /// past the hub's shutdown patience. It is ended now, the way the upgrade handler ends one
    /// whose client stops sending before its request: told that input is closed, it closes the
    /// connection and ends the upgrade without an error.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, !requestSeen {
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Bytes the HTTP parser cannot read (garbage, a NUL in the method) get a 400 and a close at
    /// once, instead of a connection held open, unanswered, until the idle timeout.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, !refused else {
            context.fireErrorCaught(error)
            return
        }
        refused = true
        answer(APIError.badRequest("the request could not be parsed as HTTP/1.1"), version: .http1_1, context: context)
    }

    static func isWebSocketUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.headers["upgrade"].contains { $0.lowercased() == "websocket" }
    }
}

/// The hub's HTTP/1 child channel: HummingbirdWebSocket's upgrade channel with the `UpgradeGate` in front.
struct GatedWebSocketChannel: ServerChildChannel {
    let base: HTTP1WebSocketUpgradeChannel
    let admission: UpgradeAdmission
    let census: ConnectionCensus

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1WebSocketUpgradeChannel.Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let upgradeHandler = try channel.pipeline.syncOperations.handler(
                type: NIOTypedHTTPServerUpgradeHandler<HTTP1WebSocketUpgradeChannel.UpgradeResult>.self)
            try channel.pipeline.syncOperations.addHandler(UpgradeGate(admission: admission), position: .before(upgradeHandler))
            return value
        }
    }

    /// Sets up one pipeline on an embedded channel before the server accepts anything. Otherwise
    /// the first sockets, accepted on several event loops at once, are the first uses of the
    /// pipeline's generic types on several threads at once, and a hub once crashed there, in the
    /// Swift runtime (a null type metadata under `configureUpgradableHTTPServerPipeline`).
    func warmUp() {
        let channel = EmbeddedChannel()
        _ = setup(channel: channel, logger: Logger(label: "rollcall-warm-up", factory: { _ in SwiftLogNoOpLogHandler() }))
        _ = try? channel.finish()
    }

    func handle(value: HTTP1WebSocketUpgradeChannel.Value, logger: Logger) async {
        census.connectionBegins()
        defer { census.connectionEnds() }
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with WebSocket upgrades through `router`, handshakes first admitted by `admission`.
    static func gatedWebSocketUpgrade(
        router: Router<HubRequestContext>,
        configuration: HTTP1WebSocketUpgradeChannel.Configuration,
        census: ConnectionCensus,
        admission: @escaping UpgradeAdmission
    ) -> HTTPServerBuilder {
        let webSocketResponder = router.buildResponder()
        return HTTPServerBuilder { responder in
            let channel = GatedWebSocketChannel(
                base: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: configuration),
                admission: admission, census: census)
            channel.warmUp()
            return channel
        }
    }
}
