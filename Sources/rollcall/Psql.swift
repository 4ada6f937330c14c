import ArgumentParser
import Foundation
import RollCallPostgres

struct Psql: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open psql on the database the hub uses (embedded or DATABASE_URL).")

    @OptionGroup var common: CommonOptions

    @Flag(help: "Run as rollcall_analyst, read-only: SELECT on the history and its views, no writes, no message bodies.")
    var analyst = false

    @Argument(parsing: .allUnrecognized, help: "Extra arguments for psql, e.g. -c 'SELECT ...'.")
    var psqlArguments: [String] = []

    func run() async throws {
        let logger = common.makeLogger()
        let status = try await common.withDatabase(logger: logger) { target in
            // The tables are there even before the first hub ran.
            _ = try await RegistryDatabase.migrate(target.location, logger: logger)
            let invocation = target.location.psqlInvocation
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["psql"] + invocation.arguments + psqlArguments
            var environment = ProcessInfo.processInfo.environment.merging(invocation.environment) { $1 }
            if analyst {
                // The session takes the analyst's role and read-only transactions from its start.
                environment["PGOPTIONS"] = [environment["PGOPTIONS"], Self.analystOptions].compactMap { $0 }.joined(separator: " ")
            }
            process.environment = environment
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        if status != 0 { throw ExitCode(status) }
    }

    static let analystOptions = "-c role=rollcall_analyst -c default_transaction_read_only=on"

}
