import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging

/// The baseline `scripts/bench` compares RollCall with: the same Hummingbird and
/// HummingbirdWebSocket, the same socket settings, and nothing else. A socket is upgraded, sent
/// one welcome frame, and read until it closes: no token, no database, no presence.
///
/// Usage: rollcall-bare [port]   (0 picks a free one; the port is printed on stdout)
@main
struct BareHub {
    static func main() async throws {
        var logger = Logger(label: "rollcall-bare")
        logger.logLevel = .warning
        let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 8090
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.get("/healthz") { _, _ in "ok" }
        router.ws("/v1/ws") { _, _ in .upgrade([:]) } onUpgrade: { inbound, outbound, _ in
            try await outbound.write(.text(#"{"type":"welcome","heartbeat_ms":30000,"connection_id":"00000000-0000-0000-0000-000000000000","server_id":"bare","user_id":"anyone"}"#))
            for try await _ in inbound.messages(maxSize: 1 << 20) {}
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
