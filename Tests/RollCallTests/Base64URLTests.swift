import Foundation
import RollCall
import Testing

@Suite("Base64url", .timeLimit(.minutes(5)))
struct Base64URLTests {
    @Test("the URL-safe alphabet without padding, read back padded or not", arguments: [0, 1, 2, 3, 31, 32, 33])
    func roundTrip(length: Int) throws {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 251) }
        let text = Base64URL.encode(bytes)
        #expect(!text.contains("+") && !text.contains("/") && !text.contains("="))
        #expect(Base64URL.decode(text) == bytes)
        let padded = text + String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
        #expect(Base64URL.decode(padded) == bytes)
    }

    @Test("text outside the alphabet is not base64url", arguments: ["not*base64", "a", "ab c", "é"])
    func refused(text: String) {
        #expect(Base64URL.decode(text) == nil)
    }
}
