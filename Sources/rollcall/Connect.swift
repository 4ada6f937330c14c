import ArgumentParser
import Foundation
import Logging
import RollCall
import RollCallClient
import RollCallHub

struct Connect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A terminal client: prints every frame as a JSON line, sends each JSON line typed on stdin; reconnects and resumes.")

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
        guard let address = URL(string: endpoint) else { throw ValidationError("--url is not a URL: \(url)") }
        let client = RollCallClient(url: address, options: HubSocket.Options(userAgent: "rollcall-connect")) { token }
        let lines = StandardInputLines()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            var reading = false
            for await event in client.events {
                switch event {
                case .connected(let id, let server, let resumed):
                    Self.note("connected: connection \(id) on \(server)" + (resumed ? " (resumed)" : ""))
                    // Lines typed (or piped) before the first welcome wait for it.
                    if !reading {
                        reading = true
                        group.addTask {
                            for await line in lines.stream where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                                do { try await client.send(text: line) } catch { Self.note("not sent: \(error)") }
                            }
                            await client.close()
                        }
                    }
                case .frame(let frame):
                    FileHandle.standardOutput.write(Data((frame.json() + "\n").utf8))
                case .disconnected(let code, let pause):
                    Self.note(
                        "disconnected" + (code.map { " (\($0))" } ?? "")
                            + ", trying again in \(pause.formatted(.units(allowed: [.seconds, .milliseconds])))")
                }
            }
            // The events end when the client has stopped: a refused token surfaces here.
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    static func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
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
