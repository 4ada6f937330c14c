import Foundation
import Hummingbird
import NIOCore

/// `/healthz`, `/readyz` and `/metrics`: what load balancers and Prometheus ask, without a token.
struct ProbeRoutes {
    let metrics: HubMetrics
    /// Whether the LISTEN connection is up.
    let listening: @Sendable () -> Bool
    let databaseAvailable: @Sendable () -> Bool
    /// Requests the registry writer holds and has not begun to write.
    let writerBacklog: @Sendable () -> Int

    var routes: RouteCollection<HubRequestContext> {
        let routes = RouteCollection(context: HubRequestContext.self)
        routes.get("healthz") { _, _ in StatusBody(status: "ok") }
        routes.get("readyz") { _, _ in
            guard listening() else { throw APIError.unavailable("LISTEN is down: presence from other hubs is paused") }
            // Ready means what the upgrade gate decides: new sockets are accepted. Answered from
            // what the heartbeat and the writer last saw: a probe costs no query.
            guard databaseAvailable() else { throw APIError.unavailable("the database is unreachable") }
            return StatusBody(status: "ready")
        }
        routes.get("metrics") { _, _ in
            metrics.databaseUp.set(to: databaseAvailable() ? 1.0 : 0.0)
            metrics.registryPending.set(to: Double(writerBacklog()))
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
        }
        return routes
    }
}
