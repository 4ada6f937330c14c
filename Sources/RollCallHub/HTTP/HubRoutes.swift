import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import RollCall
import RollCallPostgres

/// The hub's routes: the probes, the WebSocket endpoint and the API's resources, each given
/// only what it uses.
struct HubRoutes {
    let hub: HubState

    func add(to router: Router<HubRequestContext>) {
        router.addRoutes(ProbeRoutes(metrics: hub.metrics, listening: hub.listening, databaseAvailable: { hub.databaseAvailable }).routes)

        let api = router.group("v1").add(middleware: AuthenticationMiddleware(authority: hub.authority))
        api.ws("ws") { _, _ in .upgrade([:]) } onUpgrade: { inbound, outbound, wsContext in
            let context = wsContext.requestContext
            guard let identity = context.identity else { return }
            let session = WebSocketSession(
                hub: hub, identity: identity,
                userAgent: wsContext.request.headers[.userAgent],
                remoteAddress: hub.configuration.trustedProxies.clientAddress(
                    peer: context.remoteAddress?.ipAddress, forwardedFor: wsContext.request.headers[values: .xForwardedFor]),
                resuming: wsContext.request.uri.queryParameters.get("resume").flatMap(ConnectionID.init),
                channel: context.channel)
            await session.run(inbound: inbound, outbound: outbound, logger: wsContext.logger)
        }
        api.addRoutes(UserRoutes(
            reader: hub.reader, writer: hub.writer, maxMessageBytes: hub.configuration.maxMessageBytes,
            databaseAvailable: { hub.databaseAvailable }).routes)
        api.addRoutes(ServerRoutes(reader: hub.reader).routes)
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
            throw APIError.badRequest("a user id is 1 to \(Identity.maximumUserIDBytes) bytes of UTF-8")
        }
        return user
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
