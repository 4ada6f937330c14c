import ArgumentParser
import Foundation
import RollCall
import RollCallPostgres

struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one purge pass now: close the rows of dead hubs, finish their offline graces, delete old history.")

    @OptionGroup var common: CommonOptions

    @Option(help: "A hub silent this long is dead (env: ROLLCALL_ORPHAN_WINDOW; default 60s).", transform: DurationText.parseArgument)
    var orphanWindow: Duration = environmentDuration("ROLLCALL_ORPHAN_WINDOW", default: HubConfiguration.Defaults.orphanWindow)

    @Option(help: "Offline grace the hubs use (env: ROLLCALL_OFFLINE_GRACE; default 3s).", transform: DurationText.parseArgument)
    var offlineGrace: Duration = environmentDuration("ROLLCALL_OFFLINE_GRACE", default: HubConfiguration.Defaults.offlineGrace)

    @Option(help: "How long closed rows are kept (env: ROLLCALL_RETENTION; default 30d).", transform: DurationText.parseArgument)
    var retention: Duration = environmentDuration("ROLLCALL_RETENTION", default: HubConfiguration.Defaults.retention)

    func run() async throws {
        let logger = common.makeLogger()
        // Hubs believe only sealed notifications: the purge's transitions are sealed with their secret.
        let seal = NotifySeal(secret: try common.resolveSecret(logger: logger))
        try await common.withDatabase(logger: logger) { target in
            let pass = try await RegistryDatabase.purgeOnce(
                target.location, seal: seal, orphanWindow: orphanWindow, offlineGrace: offlineGrace, retention: retention, logger: logger)
            print(Self.describe(pass))
        }
    }

    static func describe(_ pass: RegistryDatabase.PurgePass) -> String {
        let report = pass.report
        if report.skipped { return "another hub is purging right now; nothing done" }
        var lines = [
            "closed \(report.rowsClosed) orphaned rows"
                + (report.closedByServer.isEmpty
                    ? "" : " (" + report.closedByServer.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")")
        ]
        lines.append("users taken offline: \(report.usersOffline)")
        lines.append("offline graces finished: \(report.gracesFinished)")
        lines.append(pass.historyRolledUp.map { "history rows rolled up: \($0)" } ?? "history: another hub is rolling up")
        lines.append(
            pass.monthsDropped.map { "history months dropped past retention: \($0.isEmpty ? "none" : $0.joined(separator: ", "))" }
                ?? "history: another hub is dropping months")
        lines.append(pass.historyDeleted.map { "history rows deleted past retention: \($0)" } ?? "history: another hub is sweeping")
        return lines.joined(separator: "\n")
    }
}
