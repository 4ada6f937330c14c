import RollCallPostgres

extension RegistryWriter {
    /// Runs the writer while `body` runs, as a child task, and stops it (letting it write what is
    /// pending) before returning: no writer outlives the test that started it.
    public func running<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run() }
            let result: T
            do {
                result = try await body()
            } catch {
                group.cancelAll()
                throw error
            }
            // As a hub stops it: what the body left pending is written first.
            stop()
            try await group.waitForAll()
            return result
        }
    }
}

/// How long a test's writer gives one attempt where the test is not about that limit: past
/// anything a busy machine takes (a full run's first minute makes dozens of databases and hubs at
/// once), so that an attempt fails only when the test means it to. The hubs' default is 10 s.
public let testAttemptLimit: Duration = .seconds(60)
