import Foundation
import RollCall
import Testing

@Suite("Connection ids", .timeLimit(.minutes(2)))
struct ConnectionIDTests {
    @Test("a new id is a random version 4 UUID, never the same twice")
    func random() {
        let ids = (0..<1000).map { _ in ConnectionID() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            let text = id.description
            #expect(text[text.index(text.startIndex, offsetBy: 14)] == "4", "\(text)")
            #expect("89ab".contains(text[text.index(text.startIndex, offsetBy: 19)]), "\(text)")
        }
    }

    @Test("written lowercase with hyphens, as PostgreSQL writes a uuid, and read back")
    func text() throws {
        let ids = [
            ConnectionID(), ConnectionID(try #require(UUID(uuidString: "00000000-0000-0000-0000-000000000000"))),
            ConnectionID(try #require(UUID(uuidString: "FFFFFFFF-ABCD-4EF0-9A1B-0123456789AB"))),
        ]
        for id in ids {
            #expect(id.description == id.uuid.uuidString.lowercased())
            #expect(ConnectionID(id.description) == id)
        }
        #expect(ids[2].description == "ffffffff-abcd-4ef0-9a1b-0123456789ab")
    }
}
