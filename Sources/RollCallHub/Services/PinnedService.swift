import RollCallPostgres
import ServiceLifecycle

/// A service run with its task (and the child tasks it starts) preferring one event loop: the
/// registry writer, on the loop of its connection pool.
struct PinnedService: Service {
    let service: any Service
    let executor: EventLoopTaskExecutor

    func run() async throws {
        try await withTaskExecutorPreference(executor) {
            try await service.run()
        }
    }
}
