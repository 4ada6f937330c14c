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
    /// The socket itself, while it is open: a WebSocket session writes to it and watches its close
    /// frames. Held weakly because HummingbirdWebSocket (2.8) keeps an upgraded request's context
    /// in a reference cycle with its handler that is never broken: held strongly, every socket's
    /// channel, buffers and pipeline would outlive it for good (about 8 KB per socket ever opened).
    var channel: (any Channel)? { socket.channel }
    private let socket: ChannelReference
    /// Set by `AuthenticationMiddleware` (or, for a socket, taken from its admission).
    var identity: Identity?
    /// The client's address as `--trusted-proxies` resolves it; set for admitted sockets.
    var clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress
        socket = ChannelReference(source.channel)
    }

    /// The bodies the API takes are small JSON documents; messages have their own limit.
    public var maxUploadSize: Int { 1024 * 1024 }

    /// Typed bodies are written in RollCall's JSON conventions: sorted keys, ISO 8601 times.
    public var responseEncoder: JSONEncoder { RollCallJSON.encoder }
}

/// A channel that may have gone.
final class ChannelReference: Sendable {
    weak let channel: (any Channel)?

    init(_ channel: any Channel) { self.channel = channel }
}
