import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

@main
struct RollCallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollcall",
        abstract: "A presence hub: who is online, on how many connections, on any of several servers.",
        subcommands: [Serve.self, Migrate.self, Purge.self, Token.self, Psql.self, Connect.self, Load.self, NotifyProbe.self, Cluster.self],
        defaultSubcommand: nil)

    static func main() async {
        do {
            var command = try parseAsRoot()
            // Only here, on the main thread before the first task, may the executor be replaced.
            if let serve = command as? Serve, serve.executor == .eventLoops {
                NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
