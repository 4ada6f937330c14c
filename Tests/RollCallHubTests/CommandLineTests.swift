import Foundation
import RollCallTestSupport
import Testing

@Suite("The command line as operators type it")
struct CommandLineTests {
    @Test("a compound or decimal duration is taken: a token for 1m30s expires 90 seconds out")
    func compoundDuration() async throws {
        let result = try await HubProcess.run(["token", "ann", "--ttl", "1m30s", "--jwt-secret", TestHub.secret])
        #expect(result.status == 0, "output: \(result.output)")
        let payload = try #require(result.output.split(separator: ".").dropFirst().first)
        var base64 = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        let json = try #require(Data(base64Encoded: base64))
        let claims = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let expiry = try #require(claims["exp"] as? Double)
        #expect(abs(expiry - Date().timeIntervalSince1970 - 90) < 30)
    }

    @Test("a bad duration stops the command and says what a duration looks like", arguments: ["1.5x", "ten", "99999999d"])
    func badDuration(text: String) async throws {
        let result = try await HubProcess.run(["serve", "--orphan-window", text])
        #expect(result.status == 64)
        #expect(result.output.contains("'\(text)' is"), "output: \(result.output)")
        #expect(result.output.contains("--orphan-window"))
    }
}
