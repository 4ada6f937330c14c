import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization

/// How an upgrade request ended.
enum Upgrade: Sendable {
    case upgraded(any Channel)
    case refused(EventLoopFuture<Refusal>)
}

/// The HTTP answer to an upgrade the hub refused.
struct Refusal: Sendable {
    var status: Int
    var body: String
}

/// Reads the HTTP answer to an upgrade the hub refused.
final class RefusalCatcher: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<Refusal>
    private let answer = Mutex(Refusal(status: 0, body: ""))

    init(promise: EventLoopPromise<Refusal>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head): answer.withLock { $0.status = Int(head.status.code) }
        case .body(let bytes): answer.withLock { if $0.body.utf8.count < 4_096 { $0.body += String(buffer: bytes) } }
        case .end:
            promise.succeed(answer.withLock { $0 })
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.succeed(answer.withLock { $0 })
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.succeed(answer.withLock { $0 })
        context.close(promise: nil)
    }
}

/// The socket's frames, on its event loop: text to the inbox, pings answered, the hub's close
/// echoed and recorded.
final class SocketHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame
    let inbox: Inbox

    init(inbox: Inbox) { self.inbox = inbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            inbox.append(String(buffer: frame.unmaskedData))
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self)
            if inbox.closeReceived(code: code) {
                // The hub closed first: answer with the same code, then the connection ends.
                var echo = context.channel.allocator.buffer(capacity: 2)
                if let code { echo.writeInteger(code) }
                let reply = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo)
                let channel = context.channel
                context.writeAndFlush(Self.wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
