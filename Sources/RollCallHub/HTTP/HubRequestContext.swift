import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import RollCall

/// The request context of every hub route, WebSocket upgrades included.
public struct HubRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<HubRequestContext>
    public let remoteAddress: SocketAddress?
    /// The socket itself: a WebSocket session watches its close frames through it.
    let channel: any Channel
    /// Set by `AuthenticationMiddleware` (or, for a socket, taken from its admission).
    var identity: Identity?
    /// The client's address as `--trusted-proxies` resolves it; set for admitted sockets.
    var clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    /// The bodies the API takes are small JSON documents; messages have their own limit.
    public var maxUploadSize: Int { 1024 * 1024 }

    /// Typed bodies are written in RollCall's JSON conventions: sorted keys, ISO 8601 times.
    public var responseEncoder: JSONEncoder { RollCallJSON.encoder }
}
