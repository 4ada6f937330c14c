import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// What the socket itself showed about how it ended: whether the client sent a close frame,
/// and which code the hub's side sent. Read once the socket is gone, to pick a `close_reason`.
final class CloseEvidence: Sendable {
    private struct Seen {
        var clientSentClose = false
        var serverCloseCode: UInt16?
    }
    private let seen = NIOLockedValueBox(Seen())

    var clientSentClose: Bool { seen.withLockedValue { $0.clientSentClose } }
    var serverCloseCode: UInt16? { seen.withLockedValue { $0.serverCloseCode } }

    fileprivate func recordClientClose() { seen.withLockedValue { $0.clientSentClose = true } }
    fileprivate func recordServerClose(code: UInt16?) {
        seen.withLockedValue { if $0.serverCloseCode == nil { $0.serverCloseCode = code ?? 1005 } }
    }

    /// Puts an observer right after the frame decoder, where it sees decoded frames both ways,
    /// including the close frames the WebSocket library writes on its own (1009, ping timeout).
    /// Queued on the socket's event loop, not awaited: it is in place before the loop reads on.
    func watch(_ channel: any Channel) {
        let observer = CloseFrameObserver(evidence: self)
        channel.eventLoop.execute {
            // A channel already gone has no decoder left; its close is read as a vanished peer.
            guard let decoder = try? channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self) else { return }
            try? channel.pipeline.syncOperations.addHandler(observer, position: .after(decoder))
        }
    }
}

private final class CloseFrameObserver: ChannelDuplexHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    let evidence: CloseEvidence

    init(evidence: CloseEvidence) { self.evidence = evidence }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if unwrapInboundIn(data).opcode == .connectionClose { evidence.recordClientClose() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        if frame.opcode == .connectionClose {
            var payload = frame.unmaskedData
            evidence.recordServerClose(code: payload.readInteger(as: UInt16.self))
        }
        context.write(data, promise: promise)
    }
}
