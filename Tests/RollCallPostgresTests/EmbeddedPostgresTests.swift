import Foundation
import RollCallPostgres
import RollCallTestSupport
import Testing

@Suite("Embedded PostgreSQL", .timeLimit(.minutes(5)))
struct EmbeddedPostgresTests {
    @Test("the server a hub starts holds none of the hub's files, even one opened without close-on-exec")
    func inheritsNothing() async throws {
        try await withFileOpenedWithoutCloseOnExec { leaked in
            try await PrivateCluster.with { cluster in
                let pidFile = cluster.cluster.clusterDirectory.appendingPathComponent("postmaster.pid")
                let pid = try #require(try String(contentsOf: pidFile, encoding: .utf8).split(separator: "\n").first.map(String.init))
                let held = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap {
                    try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
                }
                #expect(held.count >= 3, "the postmaster's descriptors are read")
                #expect(!held.contains(leaked), "\(held)")
            }
        }
    }
}
