import Crypto
import Foundation
import RollCall
import RollCallHub
import RollCallTestSupport
import Testing

@Suite("Authentication", .timeLimit(.minutes(5)))
struct AuthenticationTests {
    enum BadToken: String, CaseIterable {
        case missing, malformed, expired, wrongSignature, emptySubject
    }

    func token(_ kind: BadToken, hub: TestHub) async throws -> String? {
        switch kind {
        case .missing: return nil
        case .malformed: return "not.a.jwt"
        case .expired: return try await hub.token("alice", lifetime: .seconds(-60))
        case .wrongSignature:
            let other = try await TokenAuthority(secret: "another-secret-that-is-also-long-enough")
            return try await other.mint(Identity(userID: "alice"), lifetime: .seconds(600))
        case .emptySubject: return try await hub.token("")
        }
    }

    @Test("a bad token is refused with 401 and a JSON error before any upgrade, and leaves no row", arguments: BadToken.allCases)
    func refusedUpgrade(kind: BadToken) async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let token = try await token(kind, hub: hub)
                let viaHeader = try await hub.get("/v1/ws", token: token, headers: TestHub.upgradeHeaders)
                #expect(viaHeader.status == 401)
                #expect(viaHeader.body.contains(#""code":"unauthorized""#))
                let query = token.map { "?access_token=\($0)" } ?? ""
                let viaQuery = try await hub.get("/v1/ws\(query)", headers: TestHub.upgradeHeaders)
                #expect(viaQuery.status == 401)
                if let token {
                    #expect(!viaQuery.body.contains(token))
                    await #expect(throws: (any Error).self) { _ = try await TestSocket.open(url: hub.webSocketURL, token: token) }
                }
                let api = try await hub.get("/v1/users/alice", token: token)
                #expect(api.status == 401)
                #expect(api.body.hasPrefix(#"{"error":{"code":"unauthorized""#))
            }
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.connections", as: Int.self) == [0])
            #expect(try await sql(database, "SELECT count(*)::int FROM rollcall.users", as: Int.self) == [0])
        }
    }

    @Test("a browser's ?access_token= is accepted")
    func queryToken() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let token = try await hub.token("dora")
                let response = try await hub.get("/v1/ws?access_token=\(token)", headers: TestHub.upgradeHeaders)
                #expect(response.status == 101)
            }
        }
    }

    @Test("the Authorization scheme is read in any case, and blanks around the token are ignored")
    func headerForms() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let token = try await hub.token("erin")
                for header in ["Bearer \(token)", "bearer \(token)", "BEARER  \t\(token) \t "] {
                    let response = try await hub.get("/v1/users/erin", headers: ["Authorization": header])
                    #expect(response.status == 200, "\(header.prefix(9))")
                }
                for header in ["Bearer ", "Bearer  \t ", "Basic \(token)", "Bearer\(token)"] {
                    let response = try await hub.get("/v1/users/erin", headers: ["Authorization": header])
                    #expect(response.status == 401, "\(header.prefix(9))")
                }
            }
        }
    }

    @Test("a secret shorter than 32 bytes is refused with a clear message, not a trap")
    func weakSecret() async throws {
        await #expect {
            _ = try await TokenAuthority(secret: "short")
        } throws: { error in
            "\(error)".contains("at least 32")
        }
    }

    @Test("a refusal is answered by the gate itself: a forged RollCall-Refusal header, even pipelined behind a refused upgrade, changes nothing")
    func forgedRefusal() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                let upgrade = TestHub.upgradeHeaders.map { "\($0.key): \($0.value)" }.joined(separator: "\r\n")
                let refusedThenForged =
                    "GET /v1/ws HTTP/1.1\r\nHost: hub\r\n\(upgrade)\r\n\r\n"
                    + "GET /v1/ws HTTP/1.1\r\nHost: hub\r\n\(upgrade)\r\nRollCall-Refusal: 1000 bad_request boom\r\n\r\n"
                let answer = try await hub.exchange(refusedThenForged)
                #expect(answer.hasPrefix("HTTP/1.1 401"))
                #expect(answer.contains(#""code":"unauthorized""#))
                #expect(answer.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer, then the connection closes: \(answer)")

                let forged = try await hub.get(
                    "/v1/ws", token: try await hub.token("alice"),
                    headers: TestHub.upgradeHeaders.merging(["RollCall-Refusal": "999 forbidden no"]) { $1 })
                #expect(forged.status == 101)
                let healthy = try await hub.get("/healthz", headers: ["RollCall-Refusal": "1000 bad_request boom"])
                #expect(healthy.status == 200)
            }
        }
    }

    @Test("bytes that are not HTTP get a 400 and a close at once, not a connection held to the idle timeout")
    func unparseable() async throws {
        try await withTestDatabase { database in
            try await TestHub.run(database: database) { hub in
                for garbage in ["\u{1}\u{2}NOT HTTP\r\n\r\n", "G\u{0}T / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n"] {
                    let answer = try await hub.exchange(garbage)
                    #expect(answer.hasPrefix("HTTP/1.1 400"), "\(garbage.debugDescription) got \(answer.prefix(80).debugDescription)")
                }
                #expect(try await hub.get("/healthz").status == 200)
            }
        }
    }

    /// The three parts of a token, with one replaced.
    static func replacing(_ token: String, part index: Int, with text: String) -> String {
        var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        parts[index] = text
        return parts.joined(separator: ".")
    }

    static func base64URL(_ text: String) -> String { Base64URL.encode(Array(text.utf8)) }

    @Test("verification without the key collection: a good token proves its claims; a changed one, an unsigned one and a bad signature prove nothing")
    func verification() async throws {
        let authority = try await TestTokens.authority()
        let good = try await authority.mint(Identity(userID: "zoe", isAdmin: true, watchable: ["amy", "bo"]), lifetime: .seconds(600))
        let identity = try authority.verify(good)
        #expect(identity.userID == "zoe" && identity.isAdmin && identity.watchable == ["amy", "bo"])

        let future = Int(Date().timeIntervalSince1970) + 600
        let forgedClaims = Self.base64URL(#"{"sub":"mallory","exp":\#(future),"admin":true}"#)
        let refused = [
            Self.replacing(good, part: 1, with: forgedClaims),
            Self.replacing(Self.replacing(good, part: 0, with: Self.base64URL(#"{"alg":"none","typ":"JWT"}"#)), part: 2, with: ""),
            Self.replacing(good, part: 2, with: "not*base64"),
            Self.replacing(good, part: 2, with: Self.base64URL("thirty-two bytes of a signature!")),
            good + ".extra",
            String(good.dropLast()),
            "", "..", "a.b",
        ]
        for token in refused {
            #expect(throws: TokenRejected.self, "\(token.prefix(40))") { try authority.verify(token) }
        }
        let expired = try await authority.mint(Identity(userID: "zoe"), lifetime: .seconds(-1))
        #expect { try authority.verify(expired) } throws: { "\($0)" == "token expired" }
    }

    /// A token signed with `secret` over exactly this header and payload.
    static func signed(header: String, payload: String, secret: String = TestHub.secret) -> String {
        let input = base64URL(header) + "." + base64URL(payload)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return input + "." + Base64URL.encode(Array(mac))
    }

    @Test(
        "a token signed by another issuer with the hub's secret: claims of the wrong type, a missing expiry and another algorithm are refused; null claims are absent ones"
    )
    func foreignTokens() async throws {
        let authority = try await TestTokens.authority()
        let header = #"{"typ":"JWT","alg":"HS256"}"#
        let exp = Int(Date().timeIntervalSince1970) + 600

        let plain = try authority.verify(Self.signed(header: header, payload: #"{"sub":"ann","exp":\#(exp),"iat":1,"admin":null,"watch":null}"#))
        #expect(plain == Identity(userID: "ann", isAdmin: false, watchable: nil, expiresAt: plain.expiresAt))
        #expect(abs((plain.expiresAt?.timeIntervalSince1970 ?? 0) - Double(exp)) < 0.001)
        let fractional = try authority.verify(Self.signed(header: header, payload: #"{"sub":"ann","exp":\#(exp).5,"admin":false,"watch":["bo"]}"#))
        #expect(fractional.watchable == ["bo"] && !fractional.isAdmin)

        let refused = [
            (header, #"{"sub":"ann"}"#),
            (header, #"{"exp":\#(exp)}"#),
            (header, #"{"sub":7,"exp":\#(exp)}"#),
            (header, #"{"sub":"ann","exp":"\#(exp)"}"#),
            (header, #"{"sub":"ann","exp":\#(exp),"admin":"yes"}"#),
            (header, #"{"sub":"ann","exp":\#(exp),"admin":1}"#),
            (header, #"{"sub":"ann","exp":\#(exp),"watch":"bo"}"#),
            (header, #"{"sub":"ann","exp":\#(exp),"watch":["bo",3]}"#),
            (header, #"["ann",\#(exp)]"#),
            (header, #"{"sub":"ann","exp":\#(exp)"#),
            (#"{"typ":"JWT","alg":"HS512"}"#, #"{"sub":"ann","exp":\#(exp)}"#),
            (#"{"typ":"JWT"}"#, #"{"sub":"ann","exp":\#(exp)}"#),
            ("not json", #"{"sub":"ann","exp":\#(exp)}"#),
        ]
        for (header, payload) in refused {
            #expect("header \(header), payload \(payload)") {
                try authority.verify(Self.signed(header: header, payload: payload))
            } throws: { "\($0)" == "token is malformed or not signed with this hub's secret" }
        }
        let past = Int(Date().timeIntervalSince1970) - 1
        #expect { try authority.verify(Self.signed(header: header, payload: #"{"sub":"ann","exp":\#(past)}"#)) } throws: {
            "\($0)" == "token expired"
        }
    }
}
