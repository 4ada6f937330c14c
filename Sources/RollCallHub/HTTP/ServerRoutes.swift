import Hummingbird
import RollCallPostgres

/// `/v1/servers`: the hubs and their open sockets, for admins.
struct ServerRoutes {
    let reader: RegistryReader

    var routes: RouteCollection<HubRequestContext> {
        let routes = RouteCollection(context: HubRequestContext.self)
        routes.get("servers", use: servers)
        return routes
    }

    @Sendable func servers(_ request: Request, context: HubRequestContext) async throws -> some ResponseGenerator {
        _ = try context.requireAdmin()
        return ServersBody(servers: try await reader.servers())
    }
}
