import ArgumentParser
import Foundation
import RollCallPostgres

struct Psql: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open psql on the database the hub uses (embedded or DATABASE_URL).")

    @OptionGroup var common: CommonOptions

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
            process.environment = ProcessInfo.processInfo.environment.merging(invocation.environment) { $1 }
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        if status != 0 { throw ExitCode(status) }
    }
}
