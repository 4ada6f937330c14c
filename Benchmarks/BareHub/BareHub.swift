import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import RollCall
import Synchronization

/// The baseline `scripts/bench` compares RollCall with: the same Hummingbird and
/// HummingbirdWebSocket, the same socket settings, and nothing else. A socket is upgraded, sent
/// one welcome frame, and read until it closes: no token, no database, no presence.
///
/// With `--relay` it is also the baseline for messages: a socket's user is its bearer token's
/// `sub`, read without checking the signature, and a `send` frame is answered with an `ack` and
/// written as a `message` frame to every socket of its recipient on this server, with RollCall's
/// own frame reading and writing. Nothing is stored or published.
///
/// Usage: rollcall-bare [port] [--relay]   (0 picks a free one; the port is printed on stdout)
@main
struct BareHub {
    static func main() async throws {
        var logger = Logger(label: "rollcall-bare")
        logger.logLevel = .warning
        let arguments = CommandLine.arguments.dropFirst()
        let port = arguments.first.flatMap(Int.init) ?? 8090
        let relay = arguments.contains("--relay") ? Relay() : nil
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.get("/healthz") { _, _ in "ok" }
        router.ws("/v1/ws") { _, _ in
            .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            try await outbound.write(
                .text(
                    #"{"type":"welcome","heartbeat_ms":30000,"connection_id":"00000000-0000-0000-0000-000000000000","server_id":"bare","user_id":"anyone"}"#
                ))
            guard let relay, let user = Relay.subject(context.request.headers[.authorization]) else {
                for try await _ in inbound.messages(maxSize: 1 << 20) {}
                return
            }
            let key = relay.add(outbound, for: user)
            defer { relay.remove(key, for: user) }
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .text(let text) = message, case .send(let id, let to, let data)? = try? ClientFrame.decode(text) else { continue }
                let frame = ServerFrame.message(from: user, data: data, at: Date()).json()
                for socket in relay.sockets(of: to) { try? await socket.write(.text(frame)) }
                try await outbound.write(.text(ServerFrame.ack(id: id, accepted: true).json()))
            }
        }
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: router,
                configuration: .init(
                    http1: .init(idleTimeout: .seconds(60)),
                    ws: .init(maxFrameSize: 65_536 + 4_096, autoPing: .enabled(timePeriod: .seconds(30))))
            ),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "rollcall-bare"),
            onServerRunning: { channel in
                FileHandle.standardOutput.write(Data("listening on \(channel.localAddress?.port ?? port)\n".utf8))
            },
            logger: logger)
        try await app.runService()
    }
}

/// The relay's sockets by user.
final class Relay: Sendable {
    private let sockets = Mutex<[String: [Int: WebSocketOutboundWriter]]>([:])
    private let nextKey = Atomic<Int>(0)

    func add(_ socket: WebSocketOutboundWriter, for user: String) -> Int {
        let key = nextKey.add(1, ordering: .relaxed).newValue
        sockets.withLock { $0[user, default: [:]][key] = socket }
        return key
    }

    func remove(_ key: Int, for user: String) {
        sockets.withLock {
            $0[user]?[key] = nil; if $0[user]?.isEmpty == true { $0[user] = nil }
        }
    }

    func sockets(of user: String) -> [WebSocketOutboundWriter] {
        sockets.withLock { $0[user].map { Array($0.values) } ?? [] }
    }

    /// The `sub` of a bearer token, its signature unchecked.
    static func subject(_ authorization: String?) -> String? {
        guard let token = authorization?.split(separator: " ").last else { return nil }
        let parts = token.split(separator: ".")
        guard parts.count == 3, let claims = Base64URL.decode(String(parts[1])),
            case .object(let fields)? = try? JSONParser.parse(String(decoding: claims, as: UTF8.self)),
            case .string(let subject)? = fields["sub"]
        else { return nil }
        return subject
    }
}
