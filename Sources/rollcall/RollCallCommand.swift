import ArgumentParser

@main
struct RollCallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollcall",
        abstract: "A presence hub: who is online, on how many connections, on any of several servers.",
        subcommands: [Serve.self, Migrate.self, Purge.self, Token.self, Psql.self, Connect.self, Load.self, NotifyProbe.self],
        defaultSubcommand: nil)
}
