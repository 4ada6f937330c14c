import Foundation
import HTTPTypes
import Hummingbird
import RollCall

/// An HTTP error with the JSON body of docs/protocol.md ("HTTP API"): `{"error":{"code","message"}}`.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: ErrorCode
    let message: String

    static func unauthorized(_ message: String) -> APIError { .init(status: .unauthorized, code: .unauthorized, message: message) }
    static func forbidden(_ message: String) -> APIError { .init(status: .forbidden, code: .forbidden, message: message) }
    static func badRequest(_ message: String) -> APIError { .init(status: .badRequest, code: .badRequest, message: message) }
    static func notFound(_ message: String) -> APIError { .init(status: .notFound, code: .notFound, message: message) }
    static func unavailable(_ message: String) -> APIError { .init(status: .serviceUnavailable, code: .unavailable, message: message) }
    /// The writer is backlogged: a message over HTTP is refused rather than queued (`RegistryQueue.isBacklogged`).
    static let busy = APIError(status: .tooManyRequests, code: .rateLimited, message: "the hub is busy: nothing was sent, send again in a moment")

    var body: ByteBuffer { ByteBuffer(string: Self.json(code: code, message: message)) }

    static func json(code: ErrorCode, message: String) -> String {
        struct Body: Encodable {
            struct Detail: Encodable { let code: ErrorCode; let message: String }
            let error: Detail
        }
        let data = try! RollCallJSON.encoder.encode(Body(error: .init(code: code, message: message)))
        return String(decoding: data, as: UTF8.self)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: body))
    }
}

/// Turns every error, unmatched routes included, into the JSON error body; never a stack trace.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            let code: ErrorCode =
                switch error.status {
                case .notFound: .notFound
                case .unauthorized: .unauthorized
                case .forbidden: .forbidden
                case .contentTooLarge: .tooLarge
                case .serviceUnavailable: .unavailable
                default: .badRequest
                }
            throw APIError(status: error.status, code: code, message: error.body ?? error.status.reasonPhrase)
        } catch {
            context.logger.warning("request failed", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError(status: .serviceUnavailable, code: .unavailable, message: "the registry could not answer; try again")
        }
    }
}
