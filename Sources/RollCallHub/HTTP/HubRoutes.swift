import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import RollCall
import RollCallPostgres

/// The hub's routes: the probes, the WebSocket endpoint and the API's resources, each given
/// only what it uses.
struct HubRoutes {
    let services: SocketServices
    let authority: TokenAuthority
    let admission: SocketAdmission
    let trustedProxies: TrustedProxies
    /// Whether the LISTEN connection is up.
    let listening: @Sendable () -> Bool
    let webhooks: WebhookRoutes

    func add(to router: Router<HubRequestContext>) {
        let services = services
        router.addRoutes(
            ProbeRoutes(
                metrics: services.metrics, listening: listening, databaseAvailable: { services.databaseAvailable },
                writerBacklog: { services.writer.pendingRequests }
            ).routes)
        router.addRoutes(FileRoutes().routes)

        let socketAuthentication = AdmittedSocketMiddleware(admission: admission, authority: authority)
        router.group("v1").add(middleware: socketAuthentication)
            .ws("ws") { _, _ in
                .upgrade([:])
            } onUpgrade: { inbound, outbound, wsContext in
                await session(wsContext, dialect: .rollcall)?.run(inbound: inbound, outbound: outbound, logger: wsContext.logger)
            }
        SignalRRoutes.negotiate(on: router, authority: authority)
        router.group().add(middleware: socketAuthentication)
            .ws(RouterPath(SignalRRoutes.path)) { _, _ in
                .upgrade([:])
            } onUpgrade: { inbound, outbound, wsContext in
                await session(wsContext, dialect: .signalR)?.run(inbound: inbound, outbound: outbound, logger: wsContext.logger)
            }
        let api = router.group("v1").add(middleware: AuthenticationMiddleware(authority: authority))
        api.addRoutes(
            UserRoutes(
                reader: services.reader, writer: services.writer, maxMessageBytes: services.settings.maxMessageBytes,
                databaseAvailable: { services.databaseAvailable }
            ).routes)
        api.addRoutes(ServerRoutes(reader: services.reader).routes)
        api.addRoutes(RoomRoutes(reader: services.reader).routes)
        api.addRoutes(webhooks.routes)
    }
}

extension HubRoutes {
    /// The session of an upgraded socket, with what its handshake established.
    func session(_ wsContext: WebSocketRouterContext<HubRequestContext>, dialect: SocketDialect) -> WebSocketSession? {
        let context = wsContext.requestContext
        // No channel: the socket closed before its session began.
        guard let identity = context.identity, let channel = context.channel else { return nil }
        return WebSocketSession(
            services: services, identity: identity,
            userAgent: wsContext.request.headers[.userAgent],
            remoteAddress: context.clientAddress
                ?? trustedProxies.clientAddress(
                    peer: context.remoteAddress?.ipAddress, forwardedFor: wsContext.request.headers[values: .xForwardedFor]),
            resuming: dialect == .rollcall ? wsContext.request.uri.queryParameters.get("resume").flatMap(ConnectionID.init) : nil,
            channel: channel,
            dialect: dialect,
            connectionID: dialect == .signalR ? SignalRRoutes.connectionID(wsContext.request) : nil)
    }
}

extension HubRequestContext {
    /// The `{id}` path segment, percent-decoded: a user id may hold any character, `/` and `%` included.
    func userIDParameter() throws -> String {
        let raw = try parameters.require("id")
        guard let user = raw.removingPercentEncoding else {
            throw APIError.badRequest("the user id in the path is not valid percent-encoded UTF-8")
        }
        guard Identity.isValidUserID(user) else {
            throw APIError.badRequest("a user id is 1 to \(Identity.maximumUserIDBytes) bytes of UTF-8, without NUL")
        }
        return user
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
