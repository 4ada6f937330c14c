import NIOCore
import NIOPosix

/// A client that completes the WebSocket handshake and then never answers again: a dead peer.
public final class SilentPeer: Sendable {
    let channel: any Channel

    public static func connect(port: Int, token: String) async throws -> SilentPeer {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: false)
            .connect(host: "127.0.0.1", port: port).get()
        let request =
            [
                "GET /v1/ws HTTP/1.1", "Host: 127.0.0.1:\(port)", "Upgrade: websocket", "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "Authorization: Bearer \(token)",
            ].joined(separator: "\r\n") + "\r\n\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request))
        // With autoRead off nothing is ever read: the hub's pings go unanswered.
        return SilentPeer(channel: channel)
    }

    init(channel: any Channel) { self.channel = channel }

    public func hangUp() async { try? await channel.close() }
}
