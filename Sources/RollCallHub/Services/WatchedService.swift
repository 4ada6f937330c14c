import Logging
import ServiceLifecycle

/// A service whose graceful shutdown is watched: once the shutdown has begun, the hub says every
/// few seconds that it still waits for this service, by name, until the service returns. The
/// service group stops services one at a time, so one that does not return holds every service
/// before it in the list; this line names it.
struct WatchedService<Base: Service>: Service, CustomStringConvertible {
    let base: Base
    let name: String
    let logger: Logger

    var description: String { name }

    static var reportEvery: Duration { .seconds(5) }

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await reportWhileStopping() }
            defer { group.cancelAll() }
            try await base.run()
        }
    }

    /// Returns when cancelled (the service returned, or the hub is being cancelled).
    private func reportWhileStopping() async {
        guard (try? await gracefulShutdown()) != nil else { return }
        let began = ContinuousClock.now
        while (try? await Task.sleep(for: Self.reportEvery)) != nil {
            let waited = (ContinuousClock.now - began).components.seconds
            logger.notice("shutdown waiting for service", metadata: ["service": "\(name)", "waited_s": "\(waited)"])
        }
    }
}
