import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import RollCall

/// Decides, before any upgrade, whether a WebSocket handshake may proceed; a refusal carries
/// the HTTP status and JSON error the client gets.
typealias UpgradeAdmission = @Sendable (HTTPRequestHead) async -> APIError?

/// HummingbirdWebSocket answers every refused upgrade with a bare 400. This handler sits in front
/// of the upgrade handler and answers refused handshakes itself (401 with a JSON body, 503, ...);
/// admitted ones pass through untouched, and then the handler removes itself.
final class UpgradeGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let admission: UpgradeAdmission
    /// Parts that arrived while the admission was being decided.
    private var held: [HTTPServerRequestPart] = []
    private var deciding = false

    init(admission: @escaping UpgradeAdmission) {
        self.admission = admission
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if deciding {
            held.append(part)
            return
        }
        guard case .head(let head) = part, Self.isWebSocketUpgrade(head) else {
            // Plain HTTP: not ours. Once the first request is plain, no upgrade follows on this channel.
            context.fireChannelRead(data)
            return
        }
        deciding = true
        held = [part]
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let admission = self.admission
        let decision = context.eventLoop.makeFutureWithTask { await admission(head) }
        decision.whenSuccess { refusal in
            handler.value.decided(refusal, context: loopBound.value)
        }
    }

    private func decided(_ refusal: APIError?, context: ChannelHandlerContext) {
        let parts = held
        held = []
        deciding = false
        if let refusal {
            refuse(refusal, context: context)
            return
        }
        for part in parts { context.fireChannelRead(wrapInboundOut(part)) }
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }

    private func refuse(_ error: APIError, context: ChannelHandlerContext) {
        var body = context.channel.allocator.buffer(capacity: 128)
        body.writeString(APIError.json(code: error.code, message: error.message))
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(
            version: .http1_1, status: .init(statusCode: Int(error.status.code), reasonPhrase: error.status.reasonPhrase), headers: headers)
        // Written below the upgrade handler, straight to the HTTP encoder.
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }

    static func isWebSocketUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.headers["upgrade"].contains { $0.lowercased() == "websocket" }
    }
}

/// The hub's HTTP/1 child channel: HummingbirdWebSocket's upgrade channel with the `UpgradeGate` in front.
struct GatedWebSocketChannel: ServerChildChannel {
    let base: HTTP1WebSocketUpgradeChannel
    let admission: UpgradeAdmission

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1WebSocketUpgradeChannel.Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let upgradeHandler = try channel.pipeline.syncOperations.handler(
                type: NIOTypedHTTPServerUpgradeHandler<HTTP1WebSocketUpgradeChannel.UpgradeResult>.self)
            try channel.pipeline.syncOperations.addHandler(UpgradeGate(admission: admission), position: .before(upgradeHandler))
            return value
        }
    }

    func handle(value: HTTP1WebSocketUpgradeChannel.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with WebSocket upgrades through `router`, handshakes first admitted by `admission`.
    static func gatedWebSocketUpgrade(
        router: Router<HubRequestContext>,
        configuration: HTTP1WebSocketUpgradeChannel.Configuration,
        admission: @escaping UpgradeAdmission
    ) -> HTTPServerBuilder {
        let webSocketResponder = router.buildResponder()
        return HTTPServerBuilder { responder in
            GatedWebSocketChannel(
                base: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: configuration),
                admission: admission)
        }
    }
}
