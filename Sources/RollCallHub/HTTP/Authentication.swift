import Hummingbird
import NIOHTTP1
import RollCall

/// Where a request carries its token: `Authorization: Bearer …`, else `?access_token=` (browsers).
enum BearerToken {
    static func find(authorization: String?, query: String?) -> String? {
        if let authorization, authorization.utf8.count > 7,
            authorization.utf8.prefix(7).elementsEqual("bearer ".utf8, by: { ($0 | 0x20) == $1 })
        {
            // Trimmed on the UTF-8 bytes: Foundation's trimming goes through NSString, and
            // Character-wise trimming of a reversed view costs more than verifying the token.
            let bytes = authorization.utf8
            let blank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
            var start = bytes.index(bytes.startIndex, offsetBy: 7)
            var end = bytes.endIndex
            while start < end, blank(bytes[start]) { start = bytes.index(after: start) }
            while end > start, blank(bytes[bytes.index(before: end)]) { end = bytes.index(before: end) }
            return String(decoding: bytes[start..<end], as: UTF8.self)
        }
        guard let query else { return nil }
        for pair in query.split(separator: "&") where pair.hasPrefix("access_token=") {
            let value = pair.dropFirst("access_token=".count)
            return String(value).removingPercentEncoding ?? String(value)
        }
        return nil
    }
}

extension TokenAuthority {
    /// The identity behind a request's token, or a 401 saying what is wrong with it.
    func identity(authorization: String?, query: String?) throws(APIError) -> Identity {
        guard let token = BearerToken.find(authorization: authorization, query: query), !token.isEmpty else {
            throw .unauthorized("missing token: send Authorization: Bearer <jwt> or ?access_token=<jwt>")
        }
        do {
            return try verify(token)
        } catch {
            throw .unauthorized(error.description)
        }
    }
}

/// Requires a valid token and puts its identity in the context.
struct AuthenticationMiddleware: RouterMiddleware {
    let authority: TokenAuthority

    func handle(_ request: Request, context: HubRequestContext, next: (Request, HubRequestContext) async throws -> Response) async throws -> Response
    {
        var context = context
        context.identity = try authority.identity(authorization: request.headers[.authorization], query: request.uri.query)
        return try await next(request, context)
    }
}

/// For the socket route: the identity and address the upgrade gate admitted, so a socket's token
/// is verified once; a request that did not pass the gate (not an upgrade) is authenticated here.
struct AdmittedSocketMiddleware: RouterMiddleware {
    let admission: SocketAdmission
    let authority: TokenAuthority

    func handle(_ request: Request, context: HubRequestContext, next: (Request, HubRequestContext) async throws -> Response) async throws -> Response
    {
        var context = context
        if let channel = context.channel, let admitted = admission.take(channel) {
            context.identity = admitted.identity
            context.clientAddress = admitted.address
        } else {
            context.identity = try authority.identity(authorization: request.headers[.authorization], query: request.uri.query)
        }
        return try await next(request, context)
    }
}

extension HubRequestContext {
    /// The authenticated identity; routes behind `AuthenticationMiddleware` always have one.
    func requireIdentity() throws -> Identity {
        guard let identity else { throw APIError.unauthorized("missing token") }
        return identity
    }

    func requireAdmin() throws -> Identity {
        let identity = try requireIdentity()
        guard identity.isAdmin else { throw APIError.forbidden("this needs an admin token") }
        return identity
    }
}
