import ArgumentParser
import Foundation
import RollCall
import RollCallHub

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Mint a JWT with the configured secret.")

    @OptionGroup var common: CommonOptions

    @Argument(help: "The user id (the token's sub).")
    var user: String

    @Flag(help: "Make an admin token.")
    var admin = false

    @Option(help: "Comma-separated users this token may watch (default: any).")
    var watch: String?

    @Option(help: "How long the token is valid (default 1h).", transform: DurationText.parseArgument)
    var ttl: Duration = .seconds(3600)

    func run() async throws {
        let logger = common.makeLogger()
        let authority = try await TokenAuthority(secret: try common.resolveSecret(logger: logger))
        let watchable = watch.map { Set($0.split(separator: ",").map(String.init)) }
        print(try await authority.mint(Identity(userID: user, isAdmin: admin, watchable: watchable), lifetime: ttl))
    }
}
