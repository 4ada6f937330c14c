import Foundation
import Hummingbird
import NIOCore

/// `/healthz`, `/readyz` and `/metrics`: what load balancers and Prometheus ask, without a token.
struct ProbeRoutes {
    let metrics: HubMetrics
    /// Whether the LISTEN connection is up.
    let listening: @Sendable () -> Bool
    let databaseAvailable: @Sendable () -> Bool

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
        // The page is public; what it shows needs an admin token, which it asks for.
        routes.get("/") { _, _ in
            Self.file(EmbeddedFiles.dashboard, type: "text/html; charset=utf-8")
        }
        routes.get("openapi.yaml") { _, _ in
            Self.file(EmbeddedFiles.openAPI, type: "application/yaml; charset=utf-8")
        }
        routes.get("clients/rollcall.js") { _, _ in
            // A page on any origin may import it; it holds no secret.
            var response = Self.file(EmbeddedFiles.browserClient, type: "text/javascript; charset=utf-8")
            response.headers[.accessControlAllowOrigin] = "*"
            return response
        }
        routes.get("metrics") { _, _ in
            metrics.databaseUp.set(to: databaseAvailable() ? 1.0 : 0.0)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
        }
        return routes
    }

    static func file(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Files the hub serves as they are, compiled into the binary (SwiftPM's `embedInCode`).
public enum EmbeddedFiles {
    public static let openAPI = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
    /// `clients/js/rollcall.js`, the browser client.
    public static let browserClient = String(decoding: PackageResources.rollcall_js, as: UTF8.self)
    /// The admin dashboard served at `/`.
    public static let dashboard = String(decoding: PackageResources.dashboard_html, as: UTF8.self)
}
