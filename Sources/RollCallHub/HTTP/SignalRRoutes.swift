import Foundation
import Hummingbird
import HummingbirdWebSocket
import RollCall

/// `/hubs/presence`, where ASP.NET Core SignalR clients connect unchanged: the negotiate request
/// (versions 0 and 1, WebSockets the one transport) and the socket, which speaks the SignalR JSON
/// hub protocol and is otherwise a socket like any other.
struct SignalRRoutes {
    static let path = "hubs/presence"

    /// The answer to `POST /hubs/presence/negotiate`. The connection id becomes the row's
    /// `connection_id`, so what a SignalR hub called `Context.ConnectionId` is the row's key.
    struct Negotiation: ResponseEncodable {
        struct Transport: Codable {
            let transport: String
            let transferFormats: [String]
        }

        let negotiateVersion: Int
        let connectionId: String
        let connectionToken: String?
        let availableTransports: [Transport]
    }

    /// Registers `POST /hubs/presence/negotiate`; it needs a valid token like every API route.
    static func negotiate(on router: Router<HubRequestContext>, authority: TokenAuthority) {
        router.group(RouterPath(path)).add(middleware: AuthenticationMiddleware(authority: authority))
            .post("negotiate") { request, _ -> Negotiation in
                let requested = request.uri.queryParameters.get("negotiateVersion").flatMap(Int.init) ?? 0
                let version = min(max(requested, 0), 1)
                let id = ConnectionID().description
                return Negotiation(
                    negotiateVersion: version, connectionId: id, connectionToken: version >= 1 ? id : nil,
                    availableTransports: [.init(transport: "WebSockets", transferFormats: ["Text"])])
            }
    }

    /// The id a SignalR client sends back on its socket (`?id=`): the negotiated connection id.
    static func connectionID(_ request: Request) -> ConnectionID? {
        request.uri.queryParameters.get("id").flatMap(ConnectionID.init)
    }
}
