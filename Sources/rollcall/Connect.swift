import ArgumentParser
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import RollCall
import RollCallHub

struct Connect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A terminal client: prints every frame as a JSON line, sends each JSON line typed on stdin.")

    @OptionGroup var common: CommonOptions

    @Argument(help: "The user to connect as (a token is minted when the secret is at hand).")
    var user: String

    @Option(help: "Hub address.")
    var url: String = "ws://127.0.0.1:8080"

    @Option(name: .customLong("token"), help: "Use this token instead of minting one (env: ROLLCALL_TOKEN).")
    var tokenOption: String?

    @Flag(help: "Mint an admin token.")
    var admin = false

    func run() async throws {
        var logger = common.makeLogger("rollcall-connect")
        // Frames go to stdout; keep the client's own chatter to warnings.
        logger.logLevel = max(logger.logLevel, .warning)
        let token = try await resolveToken(logger: logger)
        let endpoint = url.hasSuffix("/v1/ws") ? url : url.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/v1/ws"
        let lines = StandardInputLines()
        let closeFrame = try await WebSocketClient.connect(
            url: endpoint,
            configuration: .init(additionalHeaders: [.authorization: "Bearer \(token)", .userAgent: "rollcall-connect"]),
            logger: logger
        ) { inbound, outbound, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await line in lines.stream where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                        try await outbound.write(.text(line))
                    }
                    try await outbound.close(.normalClosure, reason: "stdin closed")
                }
                for try await message in inbound.messages(maxSize: 16 * 1024 * 1024) {
                    if case .text(let text) = message { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }
                }
                group.cancelAll()
            }
        }
        if let closeFrame {
            FileHandle.standardError.write(Data("closed: \(closeFrame.closeCode) \(closeFrame.reason ?? "")\n".utf8))
        }
    }

    private func resolveToken(logger: Logger) async throws -> String {
        if let token = tokenOption ?? ProcessInfo.processInfo.environment["ROLLCALL_TOKEN"], !token.isEmpty { return token }
        let authority = try await TokenAuthority(secret: try common.resolveSecret(logger: logger))
        return try await authority.mint(Identity(userID: user, isAdmin: admin), lifetime: .seconds(86_400))
    }
}

/// Lines of standard input as an async sequence, read on a thread of their own so a blocking
/// read never holds a cooperative thread.
final class StandardInputLines: Sendable {
    let stream: AsyncStream<String>

    init() {
        let (stream, continuation) = AsyncStream<String>.makeStream()
        self.stream = stream
        Thread.detachNewThread {
            while let line = readLine() { continuation.yield(line) }
            continuation.finish()
        }
    }
}
