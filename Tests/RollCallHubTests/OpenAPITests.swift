import Foundation
import RollCallHub
import RollCallTestSupport
import Testing
import Yams

@Suite("The OpenAPI description", .timeLimit(.minutes(5)))
struct OpenAPITests {
    static let methods: Set<String> = ["get", "post", "put", "delete", "patch"]

    /// "GET /v1/users/{id}" for every operation the document describes.
    static func documented() throws -> Set<String> {
        let document = try #require(try Yams.load(yaml: EmbeddedFiles.openAPI) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        return Set(
            paths.flatMap { path, operations in
                operations.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" }
            })
    }

    @Test("every route the hub answers is described, and nothing it does not answer")
    func matchesTheRoutes() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let served = Set(hub.routes)
                let documented = try Self.documented()
                #expect(served.subtracting(documented).isEmpty, "routes missing from openapi.yaml: \(served.subtracting(documented).sorted())")
                #expect(documented.subtracting(served).isEmpty, "described but not served: \(documented.subtracting(served).sorted())")
                #expect(served.count >= 12, "\(served.sorted())")
                let answer = try await hub.get("/openapi.yaml")
                #expect(answer.status == 200 && answer.body == EmbeddedFiles.openAPI)
            }
        }
    }
}
