import ArgumentParser
import Foundation
import PostgresNIO
import RollCall
import RollCallClient
import RollCallPostgres
import Synchronization

/// The floor under presence propagation: how long PostgreSQL itself takes to carry a NOTIFY to a
/// LISTEN on another connection, at a given rate. `scripts/bench` prints it beside the hubs'
/// propagation, measured the same way in the same run.
struct NotifyProbe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-probe",
        abstract: "Times raw NOTIFY→LISTEN on the database at a set rate and prints percentiles as JSON.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Notifications to send.")
    var count: Int = 5000

    @Option(help: "Notifications per second.")
    var rate: Double = 1000

    func validate() throws {
        guard (1...1_000_000).contains(count), rate > 0 else { throw ValidationError("--count must be 1 to 1,000,000 and --rate above 0") }
    }

    func run() async throws {
        let logger = common.makeLogger("rollcall-notify-probe")
        let sentAt = SendTimes()
        var latencies: [Double] = []
        try await common.withDatabase(logger: logger) { target in
            try await DatabaseAdmin.withConnection(to: target.location, logger: logger) { listener in
                try await listener.listen(on: "rollcall_probe") { notifications in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        let (location, count, rate) = (target.location, count, rate)
                        group.addTask {
                            try await DatabaseAdmin.withConnection(to: location, logger: logger) { sender in
                                let begun = ContinuousClock.now
                                for sequence in 0..<count {
                                    let due = begun + .seconds(Double(sequence) / rate)
                                    if due > .now { try await Task.sleep(until: due) }
                                    sentAt.times.withLock { $0[sequence] = .now }
                                    try await sender.query("SELECT pg_notify('rollcall_probe', \(String(sequence)))", logger: logger)
                                }
                            }
                            // The last notifications get ten seconds; what has not come by then is left out.
                            try await Task.sleep(for: .seconds(10))
                            throw CancellationError()
                        }
                        var heard = 0
                        do {
                            for try await notification in notifications {
                                let now = ContinuousClock.now
                                if let sequence = Int(notification.payload), let sent = sentAt.times.withLock({ $0.removeValue(forKey: sequence) }) {
                                    latencies.append((now - sent).fractionalMilliseconds)
                                }
                                heard += 1
                                if heard == count { break }
                            }
                        } catch is CancellationError {}
                        group.cancelAll()
                    }
                }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let summary = Summary(notifyListen: LoadSummary.Latency(milliseconds: latencies), rate: rate)
        FileHandle.standardOutput.write(try encoder.encode(summary) + Data("\n".utf8))
    }

    struct Summary: Encodable {
        let notifyListen: LoadSummary.Latency
        let rate: Double

        enum CodingKeys: String, CodingKey { case notifyListen = "notify_listen_ms", rate }
    }
}

/// When each probe notification was sent, by sequence number.
final class SendTimes: Sendable {
    let times = Mutex<[Int: ContinuousClock.Instant]>([:])
}
