import Foundation
import Hummingbird
import RollCall
import RollCallPostgres

/// What admins see across hubs: `/v1/servers`, `/v1/connections` (every open socket) and
/// `/v1/stats/concurrency` (the dashboard's chart).
struct ServerRoutes {
    let reader: RegistryReader

    /// Most open connections one `GET /v1/connections` lists.
    static let maxConnections = 5000

    var routes: RouteCollection<HubRequestContext> {
        let routes = RouteCollection(context: HubRequestContext.self)
        routes.get("servers", use: servers)
        routes.get("connections", use: connections)
        routes.get("stats/concurrency", use: concurrency)
        return routes
    }

    @Sendable func servers(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
        _ = try context.requireAdmin()
        return ServersBody(servers: try await reader.servers())
    }

    @Sendable func connections(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
        _ = try context.requireAdmin()
        return ConnectionsBody(connections: try await reader.openConnections(limit: Self.maxConnections))
    }

    @Sendable func concurrency(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
        _ = try context.requireAdmin()
        let minutes = try await reader.concurrency(hours: 24)
        return ConcurrencyBody(minutes: minutes.map { .init(minute: $0.minute, connections: $0.connections) })
    }
}
