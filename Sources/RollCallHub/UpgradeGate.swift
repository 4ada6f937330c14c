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
/// of the upgrade handler and decides first: an admitted handshake passes untouched (and the
/// handler removes itself); a refused one is turned into a plain HTTP request, without its
/// `Upgrade` header and carrying the refusal in `RollCall-Refusal`, so the router answers it like
/// any other failed request (401 or 503 with the JSON error body).
final class UpgradeGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    /// Set only by the gate; a client's own copy is dropped.
    static let refusalHeader = "RollCall-Refusal"

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
        guard case .head(var head) = part else {
            context.fireChannelRead(data)
            return
        }
        head.headers.remove(name: Self.refusalHeader)
        guard Self.isWebSocketUpgrade(head) else {
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        deciding = true
        held = [.head(head)]
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let admission = self.admission
        let admitted = head
        let decision = context.eventLoop.makeFutureWithTask { await admission(admitted) }
        decision.whenSuccess { refusal in
            handler.value.decided(refusal, context: loopBound.value)
        }
    }

    private func decided(_ refusal: APIError?, context: ChannelHandlerContext) {
        var parts = held
        held = []
        deciding = false
        if let refusal, case .head(var head) = parts.first {
            head.headers.remove(name: "upgrade")
            head.headers.replaceOrAdd(name: "connection", value: "close")
            head.headers.add(name: Self.refusalHeader, value: refusal.headerValue)
            parts[0] = .head(head)
        }
        for part in parts { context.fireChannelRead(wrapInboundOut(part)) }
        context.fireChannelReadComplete()
        if refusal == nil {
            // Past the handshake the channel carries WebSocket frames, which this handler must not see.
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        }
    }

    static func isWebSocketUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.headers["upgrade"].contains { $0.lowercased() == "websocket" }
    }
}

/// Answers a handshake the `UpgradeGate` refused with the refusal it recorded.
struct RefusedUpgradeMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let value = request.headers[HTTPField.Name(UpgradeGate.refusalHeader)!], let refusal = APIError(headerValue: value) {
            throw refusal
        }
        return try await next(request, context)
    }
}

extension APIError {
    /// `status code message`, as the gate passes it to the router.
    var headerValue: String { "\(status.code) \(code.rawValue) \(message)" }

    init?(headerValue: String) {
        let parts = headerValue.split(separator: " ", maxSplits: 2).map(String.init)
        guard parts.count == 3, let status = Int(parts[0]), let code = ErrorCode(rawValue: parts[1]) else { return nil }
        self.init(status: .init(code: status), code: code, message: parts[2])
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
