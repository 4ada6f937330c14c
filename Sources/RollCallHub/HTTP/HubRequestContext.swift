import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import RollCall
import Synchronization

/// The request context of every hub route, WebSocket upgrades included.
public struct HubRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The route keeps the upgrade's handler here; see `SocketReferences`.
    public var webSocket: WebSocketHandlerReference<HubRequestContext> { socket.webSocket }
    /// The socket itself, while it is open: a WebSocket session writes to it and watches its close frames.
    var channel: (any Channel)? { socket.channel }
    private let socket: SocketReferences
    /// Set by `AuthenticationMiddleware` (or, for a socket, taken from its admission).
    var identity: Identity?
    /// The client's address as `--trusted-proxies` resolves it; set for admitted sockets.
    var clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        socket = SocketReferences(source.channel)
    }

    /// The bodies the API takes are small JSON documents; messages have their own limit.
    public var maxUploadSize: Int { 1024 * 1024 }

    /// Typed bodies are written in RollCall's JSON conventions: sorted keys, ISO 8601 times.
    public var responseEncoder: JSONEncoder { RollCallJSON.encoder }
}

/// What a request context holds of its socket. HummingbirdWebSocket (2.8) keeps an upgraded
/// request's handler in a box the context holds, together with a copy of the context: a cycle it
/// never breaks, which would keep every upgraded context, and all it holds, for good. So the
/// channel is held weakly, and the box is let go when the channel closes, which ends the cycle.
/// Before, a hub kept every channel it had upgraded, with its buffers: 5 to 8 KB per socket (BENCHMARKS.md, run 20).
final class SocketReferences: Sendable {
    weak let channel: (any Channel)?
    private let upgrade = Mutex<WebSocketHandlerReference<HubRequestContext>?>(nil)

    init(_ channel: any Channel) { self.channel = channel }

    /// Made when the WebSocket route first asks, which plain HTTP requests never do.
    var webSocket: WebSocketHandlerReference<HubRequestContext> {
        let (reference, made) = upgrade.withLock { stored in
            if let stored { return (stored, false) }
            let made = WebSocketHandlerReference<HubRequestContext>()
            stored = made
            return (made, true)
        }
        if made {
            channel?.closeFuture.whenComplete { _ in self.upgrade.withLock { $0 = WebSocketHandlerReference() } }
        }
        return reference
    }
}
