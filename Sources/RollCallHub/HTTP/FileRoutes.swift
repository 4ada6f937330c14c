import Foundation
import Hummingbird
import NIOCore

/// The files every hub serves as they are, without a token: the dashboard at `/`, the browser
/// client and the API's description.
struct FileRoutes {
    var routes: RouteCollection<HubRequestContext> {
        let routes = RouteCollection(context: HubRequestContext.self)
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
