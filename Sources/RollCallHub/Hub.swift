import Hummingbird
import Logging
import ServiceLifecycle

/// One `rollcall serve` process: the HTTP/WebSocket application and what must happen before it
/// stops. At shutdown the socket drain runs first, then the application (server, lifecycle,
/// writer, pool, in that order).
public struct Hub: Service {
    let application: any Service
    let drain: SocketDrain
    let logger: Logger
    /// Every route the hub answers, as `GET /v1/users/{id}`: what openapi.yaml must describe.
    public let routes: [String]

    public func run() async throws {
        try await ServiceGroup(services: [application, drain], logger: logger).run()
    }
}
